/**
 * A throwaway PostgreSQL for the audit sink tests (scripts/start-postgres.sh on a free port), which, unlike
 * helpers/postgres.ts, can be stopped and started again on the same data: the sink must survive an outage.
 */
import { rmSync } from 'node:fs';
import pg from 'pg';
import { startPgCluster } from './postgres.js';

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
  const { base, port, db, password, ctl } = await startPgCluster('portcullis-it-auditpg-', 'portcullis_audit_it');
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
