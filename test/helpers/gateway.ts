/** Starts the real gateway process (`node dist/main.js serve`) from a config object, waits for it, and stops it. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, ROOT } from './paths.js';
import { spawnManaged, stopManaged, waitForStdout, type Managed } from './process.js';

export interface RunningGateway {
  /** http://127.0.0.1:PORT/mcp as printed by the gateway (https:// with listen.tls). */
  url: string;
  /** http://127.0.0.1:PORT */
  base: string;
  port: number;
  configFile: string;
  process: Managed;
  /** Stop with SIGTERM (then SIGKILL) and wait for exit. */
  stop(): Promise<void>;
}

/** The config with listen on an ephemeral loopback port and anything not given left to the gateway's defaults. */
export function gatewayConfig(cfg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { listen: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, ...cfg };
  // The policy time budget is wall-clock; on a busy CI machine a sub-millisecond evaluation can be descheduled past
  // the 50 ms default and be denied. Tests that are not about the budget get a generous one unless they set it.
  if (cfg.policy && typeof cfg.policy === 'object') out.policy = { timeoutMs: 2000, ...(cfg.policy as Record<string, unknown>) };
  return out;
}

export function writeConfig(dir: string, cfg: Record<string, unknown>, name = 'portcullis.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(cfg));
  return file;
}

export async function startGateway(dir: string, cfg: Record<string, unknown>, name = 'portcullis.yaml'): Promise<RunningGateway> {
  const configFile = writeConfig(dir, gatewayConfig(cfg), name);
  const proc = spawnManaged(process.execPath, [CLI, 'serve', '--config', configFile], { cwd: ROOT, env: { ...process.env } });
  let m: RegExpMatchArray;
  try {
    m = await waitForStdout(proc, /Portcullis is listening on (https?:\/\/127\.0\.0\.1:(\d+)\/mcp)/, 20_000);
  } catch (err) {
    await stopManaged(proc, 500);
    throw err;
  }
  const url = m[1]!;
  const port = Number(m[2]);
  return { url, port, base: url.slice(0, -'/mcp'.length), configFile, process: proc, stop: () => stopManaged(proc) };
}

/** Runs a one-shot CLI command (validate, serve with a bad config, ...) without blocking, so runs can overlap. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
      resolve({ code: err ? ((err as { code: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
