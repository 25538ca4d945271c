/**
 * Checks an audit trail (a rotated file set or a PostgreSQL table) entry by entry and names the first broken one:
 * an edit (content ≠ hash), a removal (seq gap, prev_hash ≠ previous hash), a forged or foreign checkpoint (MAC,
 * key id), a start without genesis or signed anchor, and a tail not closed by a checkpoint (cut off).
 */
import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { entryHash, GENESIS, isCheckpoint, keyId, macMatches } from './chain.js';
import { rotatedFiles } from './file-sink.js';
import { quoteTable } from './postgres-sink.js';

export interface VerifyOptions {
  /** The checkpoint key; undefined checks only the chain (checkpoint MACs are then reported as unchecked). */
  key?: string;
  /** Accept a trail whose tail is not closed by a closing checkpoint (a gateway still running). */
  open?: boolean;
}

export interface VerifyProblem {
  /** file:line, or `row seq=N`. */
  where: string;
  seq?: number;
  decision_id?: string;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  records: number;
  checkpoints: number;
  firstSeq?: number;
  lastSeq?: number;
  /** Sources read, in order (files) or the table. */
  sources: string[];
  problem?: VerifyProblem;
  warnings: string[];
}

interface Prev {
  seq: number;
  hash: string;
  where: string;
}

/** The chain rules, fed one entry at a time. */
export class ChainChecker {
  private prev: Prev | null = null;
  private entries = 0;
  private records = 0;
  private checkpoints = 0;
  private sinceCheckpoint = 0;
  private firstSeq: number | undefined;
  private lastCheckpoint: { where: string; reason: string } | null = null;
  private lastWhere = '';
  private problem: VerifyProblem | undefined;
  private readonly warnings: string[] = [];
  private readonly keyId: string | undefined;

  constructor(private readonly opts: VerifyOptions) {
    this.keyId = opts.key !== undefined ? keyId(opts.key) : undefined;
  }

  get broken(): boolean {
    return this.problem !== undefined;
  }

  fail(where: string, reason: string, entry?: Record<string, unknown> | null): void {
    if (this.problem) return;
    this.problem = {
      where,
      reason,
      ...(typeof entry?.seq === 'number' ? { seq: entry.seq } : {}),
      ...(typeof entry?.decision_id === 'string' ? { decision_id: entry.decision_id } : {}),
    };
  }

  /** `entry` null: the line is not a JSON object. */
  push(entry: Record<string, unknown> | null, where: string): void {
    if (this.problem) return;
    this.lastWhere = where;
    if (!entry) return this.fail(where, 'not a JSON object (a damaged or partially written line)');
    const { seq, prev_hash: prevHash, hash } = entry;
    if (typeof seq !== 'number' || typeof prevHash !== 'string' || typeof hash !== 'string') {
      return this.fail(where, 'carries no chain fields (seq, prev_hash, hash): not written by a chained sink, or stripped', entry);
    }
    // This entry's own integrity first: an edited entry is named itself, not its successor.
    if (entryHash(entry) !== hash) return this.fail(where, 'its content does not match its hash: the entry was edited', entry);
    const cp = isCheckpoint(entry);
    if (this.prev === null) {
      this.firstSeq = seq;
      if (seq === 1 && prevHash === GENESIS) {
        // the genesis entry
      } else if (cp && this.opts.key !== undefined && entry.key_id === this.keyId && macMatches(this.opts.key, entry)) {
        this.warnings.push(`the trail starts at seq ${seq}, anchored by a signed checkpoint (${where}); entries before it are not here (rotated away or pruned)`);
      } else if (cp && this.opts.key === undefined) {
        this.warnings.push(`the trail starts at seq ${seq} at a checkpoint (${where}) that was not authenticated (no key)`);
      } else {
        return this.fail(where, `the chain starts at seq ${seq} without the genesis entry or a signed checkpoint: entries before it are missing`, entry);
      }
    } else {
      const p = this.prev;
      if (seq !== p.seq + 1) {
        return this.fail(
          where,
          seq > p.seq
            ? `${seq - p.seq - 1} entr${seq - p.seq - 1 === 1 ? 'y is' : 'ies are'} missing before it: seq jumps from ${p.seq} (${p.where}) to ${seq}`
            : `seq ${seq} does not follow seq ${p.seq} (${p.where}): an entry was duplicated or moved`,
          entry,
        );
      }
      if (prevHash !== p.hash) {
        return this.fail(where, `prev_hash does not match the hash of the entry before it (${p.where}): that entry was replaced, or entries were removed and renumbered`, entry);
      }
    }
    if (cp) {
      if (this.opts.key !== undefined) {
        if (entry.key_id !== this.keyId) {
          return this.fail(where, `checkpoint made with another key (key id ${String(entry.key_id)}; the given key's id is ${this.keyId}): wrong key, or a forged checkpoint`, entry);
        }
        if (!macMatches(this.opts.key, entry)) {
          return this.fail(where, 'checkpoint MAC does not verify: the checkpoint was forged, or the chain before it rewritten', entry);
        }
      }
      this.checkpoints++;
      this.sinceCheckpoint = 0;
      this.lastCheckpoint = { where, reason: String(entry.reason) };
    } else {
      this.records++;
      this.sinceCheckpoint++;
    }
    this.entries++;
    this.prev = { seq, hash, where };
  }

  finish(sources: string[]): VerifyResult {
    if (!this.problem && this.entries === 0) this.fail(sources.join(', ') || '(none)', 'no entries to verify');
    if (!this.problem) {
      const open = this.opts.open === true;
      if (this.sinceCheckpoint > 0) {
        const where = this.lastCheckpoint ? `the last checkpoint (${this.lastCheckpoint.where})` : 'any checkpoint';
        const msg = `${this.sinceCheckpoint} record(s) after ${where} are not covered by a checkpoint: the tail may have been cut off, or the gateway is still running or stopped without closing the trail`;
        if (open) this.warnings.push(msg);
        else this.fail(this.lastWhere, `${msg} (--open accepts an open tail)`);
      } else if (this.lastCheckpoint && this.lastCheckpoint.reason !== 'close') {
        const msg = `the trail ends at a ${this.lastCheckpoint.reason} checkpoint (${this.lastCheckpoint.where}), not a closing one: records after it may have been cut off, or the gateway is still running`;
        if (open) this.warnings.push(msg);
        else this.fail(this.lastCheckpoint.where, `${msg} (--open accepts an open tail)`);
      }
      if (this.checkpoints > 0 && this.opts.key === undefined) this.warnings.push(`${this.checkpoints} checkpoint(s) NOT authenticated: no key given`);
    }
    return {
      ok: !this.problem,
      entries: this.entries,
      records: this.records,
      checkpoints: this.checkpoints,
      ...(this.firstSeq !== undefined ? { firstSeq: this.firstSeq } : {}),
      ...(this.prev ? { lastSeq: this.prev.seq } : {}),
      sources,
      ...(this.problem ? { problem: this.problem } : {}),
      warnings: this.warnings,
    };
  }
}

function parseLine(line: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Verifies `file` with its rotated siblings (FILE.1, FILE.2, …, FILE), as one chain. */
export async function verifyFiles(file: string, opts: VerifyOptions): Promise<VerifyResult> {
  const files = rotatedFiles(file).map((r) => r.path);
  if (existsSync(file)) files.push(file);
  const checker = new ChainChecker(opts);
  if (files.length === 0) {
    checker.fail(file, 'no such file (and no rotated siblings)');
    return checker.finish([]);
  }
  for (const f of files) {
    const rl = createInterface({ input: createReadStream(f, 'utf8'), crlfDelay: Infinity });
    let n = 0;
    for await (const line of rl) {
      n++;
      if (line.trim() === '') continue;
      checker.push(parseLine(line), `${basename(f)}:${n}`);
      if (checker.broken) {
        rl.close();
        break;
      }
    }
    if (checker.broken) break;
  }
  return checker.finish(files);
}

/** Verifies a PostgreSQL table written by the audit sink, in seq order, checking the columns against the entries. */
export async function verifyPostgres(url: string, table: string, opts: VerifyOptions): Promise<VerifyResult> {
  const q = quoteTable(table);
  const checker = new ChainChecker(opts);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [q]);
    if (!exists.rows[0]?.t) {
      checker.fail(`table ${table}`, 'no such table');
      return checker.finish([`table ${table}`]);
    }
    let after = '-9223372036854775808';
    for (;;) {
      const page = await client.query<{ seq: string; entry_type: string; decision_id: string | null; prev_hash: string; hash: string; entry: string }>(
        `SELECT seq, entry_type, decision_id, prev_hash, hash, entry FROM ${q} WHERE seq > $1::bigint ORDER BY seq LIMIT 5000`,
        [after],
      );
      for (const row of page.rows) {
        row.seq = String(row.seq); // int8 arrives as a string unless someone installed a type parser
        const where = `row seq=${row.seq}`;
        const entry = parseLine(row.entry);
        if (entry) {
          const mismatch: string[] = [];
          if (String(entry.seq) !== row.seq) mismatch.push('seq');
          if (entry.prev_hash !== row.prev_hash) mismatch.push('prev_hash');
          if (entry.hash !== row.hash) mismatch.push('hash');
          if ((typeof entry.decision_id === 'string' ? entry.decision_id : null) !== row.decision_id) mismatch.push('decision_id');
          if ((isCheckpoint(entry) ? 'checkpoint' : 'record') !== row.entry_type) mismatch.push('entry_type');
          if (mismatch.length > 0) {
            checker.fail(where, `column(s) ${mismatch.join(', ')} differ from the stored entry: the row was edited`, entry);
            break;
          }
        }
        checker.push(entry, where);
        if (checker.broken) break;
      }
      if (checker.broken || page.rows.length < 5000) break;
      after = page.rows.at(-1)!.seq;
    }
    return checker.finish([`table ${table}`]);
  } finally {
    await client.end().catch(() => undefined);
  }
}
