/** A private redis-server (Debian's) for one test file: its own port and directory, no persistence, stopped after. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './oidc.js';
import { ROOT } from './paths.js';
import { spawnManaged, stopManaged, waitForStdout, type Managed } from './process.js';

export interface TestRedis {
  url: string;
  port: number;
  process: Managed;
  stop(): Promise<void>;
}

/** The binary the project's set-up installs (scripts/start-redis.sh --install-only); installs it if missing. */
export function redisServerBinary(): string {
  const bin = '/usr/bin/redis-server';
  if (!existsSync(bin)) {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'start-redis.sh'), '--install-only'], { encoding: 'utf8', stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(bin)) throw new Error('redis-server is not installed and scripts/start-redis.sh --install-only failed');
  }
  return bin;
}

export async function startRedis(dir: string): Promise<TestRedis> {
  const port = await freePort();
  const proc = spawnManaged(redisServerBinary(), [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--loglevel', 'notice',
  ]);
  await waitForStdout(proc, /Ready to accept connections/, 15_000);
  return { url: `redis://127.0.0.1:${port}/0`, port, process: proc, stop: () => stopManaged(proc) };
}
