/**
 * The PostgreSQL sink: one row per chained entry in a table it creates if missing. Each batch is one transaction
 * that takes an advisory lock, reads the head and appends, so replicas sharing a table extend one chain.
 */
import pg from 'pg';
import { chainCheckpoint, chainRecord, EMPTY_HEAD, parseRecordLine, type ChainHead, type CheckpointReason, type CheckpointSigner } from './chain.js';
import type { ChainedSink } from './sink.js';

export interface PostgresSinkOptions {
  url: string;
  table: string;
  signer: CheckpointSigner | null;
  warn: (msg: string, meta?: Record<string, unknown>) => void;
  connectTimeoutMs?: number;
}

/** `name` or `schema.name`, each an unquoted SQL identifier; anything else is refused (it is spliced into SQL). */
export const TABLE_PATTERN = /^(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function quoteTable(table: string): string {
  if (!TABLE_PATTERN.test(table)) throw new Error(`invalid audit table name '${table}' (want name or schema.name)`);
  return table
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
}

export function createTableSql(table: string): string[] {
  const q = quoteTable(table);
  const idx = `"${table.replace(/\./g, '_')}_decision_id_idx"`;
  return [
    `CREATE TABLE IF NOT EXISTS ${q} (
      seq bigint PRIMARY KEY,
      entry_type text NOT NULL,
      decision_id text,
      ts timestamptz NOT NULL DEFAULT now(),
      prev_hash text NOT NULL,
      hash text NOT NULL,
      entry text NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${idx} ON ${q} (decision_id)`,
  ];
}

export class PostgresSink implements ChainedSink {
  readonly name = 'postgres';
  private readonly pool: pg.Pool;
  private readonly q: string;
  private tableReady = false;
  /** One advisory lock per table: replicas writing the same table serialize their batches on it. */
  private readonly lockKey: string;

  constructor(private readonly opts: PostgresSinkOptions) {
    this.q = quoteTable(opts.table);
    this.lockKey = `portcullis-audit:${opts.table}`;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: 2,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      // A statement that hangs (a server that stopped mid-query) must fail the batch, not hold it forever.
      query_timeout: 15_000,
    });
    // An idle client whose server goes away emits 'error' on the pool; unhandled, it would crash the gateway.
    this.pool.on('error', (err) => opts.warn('audit postgres connection lost', { error: err.message }));
  }

  async write(records: readonly string[], checkpoint: CheckpointReason | null): Promise<void> {
    if (records.length === 0 && !(checkpoint && this.opts.signer)) return;
    const client = await this.pool.connect();
    let broken = false;
    try {
      if (!this.tableReady) {
        await client.query('SELECT pg_advisory_lock(hashtext($1))', [this.lockKey]);
        try {
          for (const sql of createTableSql(this.opts.table)) await client.query(sql);
        } finally {
          await client.query('SELECT pg_advisory_unlock(hashtext($1))', [this.lockKey]);
        }
        this.tableReady = true;
      }
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.lockKey]);
        const top = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.q} ORDER BY seq DESC LIMIT 1`);
        let head: ChainHead = top.rows[0] ? { seq: Number(top.rows[0].seq), hash: top.rows[0].hash } : EMPTY_HEAD;
        const seqs: string[] = [];
        const types: string[] = [];
        const ids: Array<string | null> = [];
        const tss: string[] = [];
        const prevs: string[] = [];
        const hashes: string[] = [];
        const lines: string[] = [];
        const push = (entry: Record<string, unknown>, line: string, type: string) => {
          seqs.push(String(entry.seq));
          types.push(type);
          ids.push(typeof entry.decision_id === 'string' ? entry.decision_id : null);
          tss.push(typeof entry.timestamp === 'string' ? entry.timestamp : typeof entry.ts === 'string' ? entry.ts : new Date().toISOString());
          prevs.push(entry.prev_hash as string);
          hashes.push(entry.hash as string);
          lines.push(line);
        };
        for (const r of records) {
          const c = chainRecord(head, parseRecordLine(r), r);
          push(c.entry, c.line, 'record');
          head = c.head;
        }
        if (checkpoint && this.opts.signer) {
          const c = chainCheckpoint(head, checkpoint, this.opts.signer);
          push(c.entry as unknown as Record<string, unknown>, c.line, 'checkpoint');
          head = c.head;
        }
        await client.query(
          `INSERT INTO ${this.q} (seq, entry_type, decision_id, ts, prev_hash, hash, entry)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[])`,
          [seqs, types, ids, tss, prevs, hashes, lines],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      }
    } catch (err) {
      // The table may have been dropped, or the server replaced: check again on the next attempt.
      this.tableReady = false;
      broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
