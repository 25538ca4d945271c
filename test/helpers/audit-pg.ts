/**
 * A throwaway PostgreSQL for the audit sink tests (scripts/start-postgres.sh on a free port), which, unlike
 * helpers/postgres.ts, can be stopped and started again on the same data: the sink must survive an outage.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ROOT } from './paths.js';
import { freePort } from './postgres.js';

const run = promisify(execFile);

export interface AuditPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/<db> */
  url: string;
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Stops the server, keeping its data. */
  halt(): Promise<void>;
  /** Starts it again on the same data and port. */
  resume(): Promise<void>;
  /** Stops it and removes the cluster. */
  destroy(): Promise<void>;
}

export async function startAuditPostgres(): Promise<AuditPostgres> {
  // Under root the server runs as `postgres`, which must reach the data directory: /tmp, not a private temp dir.
  const base = mkdtempSync(join(tmpdir(), 'portcullis-it-auditpg-'));
  chmodSync(base, 0o755);
  const port = await freePort();
  const db = 'portcullis_audit_it';
  const env = {
    ...process.env,
    PG_PORT: String(port),
    PG_DATA: join(base, 'data'),
    PG_LOG: join(base, 'pg.log'),
    PG_DB: db,
    PG_ADMIN_PASSWORD_FILE: join(base, 'admin.password'),
  };
  const script = join(ROOT, 'scripts', 'start-postgres.sh');
  const ctl = (cmd: string) => run('bash', [script, cmd], { env, cwd: ROOT, timeout: 60_000 });
  await ctl('start');
  const password = readFileSync(env.PG_ADMIN_PASSWORD_FILE, 'utf8').trim();
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  return {
    url,
    async sql<T>(text: string, params?: unknown[]): Promise<T[]> {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        return (await c.query(text, params)).rows as T[];
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    halt: async () => {
      await ctl('stop');
    },
    resume: async () => {
      await ctl('start');
    },
    async destroy() {
      await ctl('stop').catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
