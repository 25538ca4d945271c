/**
 * A real OpenBao dev server for integration tests, started and configured by scripts/start-vault.sh (database
 * secrets engine on a TestPostgres, KV v2, AppRole for the gateway), with its HTTP API at hand for assertions.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './paths.js';
import { freePort, type TestPostgres } from './postgres.js';

const run = promisify(execFile);

export interface VaultOptions {
  /** Database role lease TTLs, e.g. '3s' / '6s'. */
  dbDefaultTtl?: string;
  dbMaxTtl?: string;
  /** The gateway's AppRole token TTLs. */
  tokenTtl?: string;
  tokenMaxTtl?: string;
  /**
   * A file audit device with log_raw: every secret Vault hands out is written there in clear, so a test can list
   * the values that must never show up in the gateway's output.
   */
  auditFile?: string;
}

export interface TestVault {
  addr: string;
  rootToken: string;
  roleIdFile: string;
  secretIdFile: string;
  /** One request to the Vault HTTP API as root; `json` is the parsed body (undefined when empty). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Lease ids Vault holds under a prefix such as database/creds/analyst-ro/. */
  leases(prefix: string): Promise<string[]>;
  /** Stops the server process (an outage); start() brings it back, reconfigured (the dev server forgets everything). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its state. */
  destroy(): Promise<void>;
}

export async function startVault(pg: TestPostgres, opts: VaultOptions = {}): Promise<TestVault> {
  const state = mkdtempSync(join(tmpdir(), 'portcullis-it-vault-'));
  const port = await freePort();
  const env = {
    ...process.env,
    VAULT_PORT: String(port),
    VAULT_STATE: state,
    PG_PORT: String(pg.port),
    PG_DB: pg.db,
    PG_ADMIN_PASSWORD_FILE: pg.adminPasswordFile,
    DB_DEFAULT_TTL: opts.dbDefaultTtl ?? '2m',
    DB_MAX_TTL: opts.dbMaxTtl ?? '10m',
    APPROLE_TOKEN_TTL: opts.tokenTtl ?? '20m',
    APPROLE_TOKEN_MAX_TTL: opts.tokenMaxTtl ?? '1h',
    VAULT_AUDIT_FILE: opts.auditFile ?? '',
  };
  const script = join(ROOT, 'scripts', 'start-vault.sh');
  const sh = (cmd: string) => run('bash', [script, cmd], { env, cwd: ROOT, timeout: 60_000 });
  const pidFile = join(state, 'pid');
  // Backstop: the server runs detached (nohup), so a crashed test file must still not leave it behind.
  const kill = () => {
    if (!existsSync(pidFile)) return;
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.on('exit', kill);
  const addr = `http://127.0.0.1:${port}`;
  // The script creates it on first run; it is read again lazily by api() below.
  let rootToken = '';
  const api: TestVault['api'] = async (method, path, body) => {
    const res = await fetch(`${addr}/v1/${path}`, {
      method,
      headers: { 'X-Vault-Token': rootToken, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const up = async () => {
    await sh('start');
    rootToken = readFileSync(join(state, 'root-token'), 'utf8').trim();
    await sh('configure');
  };
  await up();
  rootToken = readFileSync(join(state, 'root-token'), 'utf8').trim();
  return {
    addr,
    rootToken,
    roleIdFile: join(state, 'role-id'),
    secretIdFile: join(state, 'secret-id'),
    api,
    async leases(prefix) {
      const r = await api('LIST', `sys/leases/lookup/${prefix}`);
      if (r.status === 404) return [];
      return ((r.json?.data?.keys ?? []) as string[]).map((k) => `${prefix}${k}`);
    },
    async stop() {
      await sh('stop');
    },
    start: up,
    async destroy() {
      await sh('stop').catch(() => undefined);
      process.off('exit', kill);
      rmSync(state, { recursive: true, force: true });
    },
  };
}
