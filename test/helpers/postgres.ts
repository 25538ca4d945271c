/** A real PostgreSQL for integration tests: a throwaway cluster started by scripts/start-postgres.sh on a free port. */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ROOT } from './paths.js';
import { spawnManaged, stopManaged, waitForStdout, type Managed } from './process.js';

const run = promisify(execFile);

export interface TestPostgres {
  port: number;
  db: string;
  adminPasswordFile: string;
  /** Runs SQL as the superuser (a new connection each time) and returns the rows. */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Connects as another user (e.g. a leased role) and runs one statement. */
  sqlAs<T = Record<string, unknown>>(user: string, password: string, text: string): Promise<T[]>;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A cluster of our own, run by scripts/start-postgres.sh on a free port; `ctl` runs that script's commands on it. */
export interface PgCluster {
  base: string;
  port: number;
  db: string;
  adminPasswordFile: string;
  password: string;
  ctl(cmd: 'start' | 'stop'): Promise<unknown>;
}

export async function startPgCluster(prefix: string, db: string): Promise<PgCluster> {
  // Under root the server runs as `postgres`, which must reach the data directory: /tmp, not a private temp dir.
  const base = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(base, 0o755);
  const port = await freePort();
  const env = {
    ...process.env,
    PG_PORT: String(port),
    PG_DATA: join(base, 'data'),
    PG_LOG: join(base, 'pg.log'),
    PG_DB: db,
    PG_ADMIN_PASSWORD_FILE: join(base, 'admin.password'),
  };
  const script = join(ROOT, 'scripts', 'start-postgres.sh');
  const ctl = (cmd: 'start' | 'stop') => run('bash', [script, cmd], { env, cwd: ROOT, timeout: 60_000 });
  await ctl('start');
  const password = readFileSync(env.PG_ADMIN_PASSWORD_FILE, 'utf8').trim();
  return { base, port, db, adminPasswordFile: env.PG_ADMIN_PASSWORD_FILE, password, ctl };
}

export async function startPostgres(): Promise<TestPostgres> {
  const { base, port, db, adminPasswordFile, password, ctl } = await startPgCluster('portcullis-it-pg-', 'portcullis_demo');
  const connect = async <T>(user: string, pw: string, text: string, params?: unknown[]): Promise<T[]> => {
    const c = new pg.Client({ host: '127.0.0.1', port, database: db, user, password: pw, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      return (await c.query(text, params)).rows as T[];
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  return {
    port,
    db,
    adminPasswordFile,
    sql: (text, params) => connect('postgres', password, text, params),
    sqlAs: (user, pw, text) => connect(user, pw, text),
    async stop() {
      await ctl('stop').catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface PostgresUpstream {
  url: string;
  process: Managed;
  stop(): Promise<void>;
}

/** examples/servers/postgres-server.mjs against `pg`, on a free port (it prints READY <port>). */
export async function startPostgresUpstream(db: TestPostgres): Promise<PostgresUpstream> {
  const proc = spawnManaged(process.execPath, [join(ROOT, 'examples', 'servers', 'postgres-server.mjs'), '--port', '0'], {
    cwd: ROOT,
    // Where the database is, and nothing else: the credentials come from the gateway, per call.
    env: { PATH: process.env.PATH, PG_HOST: '127.0.0.1', PG_PORT: String(db.port), PG_DB: db.db },
  });
  const m = await waitForStdout(proc, /^READY (\d+)$/m, 15_000);
  return { url: `http://127.0.0.1:${m[1]}/mcp`, process: proc, stop: () => stopManaged(proc) };
}
