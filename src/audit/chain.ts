/**
 * The hash chain every durable audit sink writes: entry n carries the hash of entry n-1, and HMAC'd checkpoints
 * authenticate the head. Shared by the writers (file, PostgreSQL) and by `portcullis audit verify`, so the two
 * cannot drift.
 *
 * Entry hash = sha256 over the canonical JSON (RFC 8785, JCS) of the entry without its `hash` member. JCS was
 * chosen because any language with a JCS library can re-check a trail; for the values an audit record holds
 * (strings, finite numbers, booleans, null, arrays, objects) it is JSON.stringify with keys sorted by UTF-16 units.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** prev_hash of the first entry of a chain. */
export const GENESIS = '0'.repeat(64);

export type CheckpointReason = 'count' | 'interval' | 'rotate' | 'close';

/** What every chained entry carries in addition to its content. */
export interface ChainFields {
  seq: number;
  prev_hash: string;
  hash: string;
}

export interface CheckpointEntry extends ChainFields {
  type: 'checkpoint';
  reason: CheckpointReason;
  ts: string;
  /** Which gateway process wrote it (several replicas may share a PostgreSQL table). */
  writer: string;
  /** Identifies the checkpoint key without revealing it, so a verifier can tell "wrong key" from "forged". */
  key_id: string;
  /** HMAC-SHA256 over the canonical entry without `mac` and `hash`; covers prev_hash, hence the whole chain. */
  mac: string;
}

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + (value[i] === undefined ? 'null' : canonicalJson(value[i]));
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      let out = '{';
      let first = true;
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 prescribes.
      for (const k of Object.keys(obj).sort()) {
        const v = obj[k];
        if (v === undefined || typeof v === 'function') continue;
        out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode ${typeof value}`);
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The hash an entry must carry: over everything but `hash` itself. */
export function entryHash(entry: Record<string, unknown>): string {
  const { hash: _omit, ...rest } = entry;
  return sha256Hex(canonicalJson(rest));
}

export function keyId(key: string): string {
  return sha256Hex(`portcullis-audit-checkpoint-key:${key}`).slice(0, 16);
}

export function checkpointMac(key: string, entry: Record<string, unknown>): string {
  const { hash: _h, mac: _m, ...rest } = entry;
  return `hmac-sha256:${createHmac('sha256', key).update(canonicalJson(rest)).digest('hex')}`;
}

export function macMatches(key: string, entry: Record<string, unknown>): boolean {
  const want = Buffer.from(checkpointMac(key, entry));
  const got = Buffer.from(typeof entry.mac === 'string' ? entry.mac : '');
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The head of a chain: what the next entry links to. */
export interface ChainHead {
  seq: number;
  hash: string;
}

export const EMPTY_HEAD: ChainHead = Object.freeze({ seq: 0, hash: GENESIS });

/**
 * Links a record after `head`; returns the entry and its JSON line. `text`, when given, must be the record's own
 * JSON.stringify output (what the queue holds): the line is then spliced from it instead of serialized again.
 */
export function chainRecord(head: ChainHead, record: Record<string, unknown>, text?: string): { entry: Record<string, unknown>; line: string; head: ChainHead } {
  // seq first for people reading the file; the hash does not depend on member order.
  const entry: Record<string, unknown> = { seq: head.seq + 1, ...record, prev_hash: head.hash };
  const hash = sha256Hex(canonicalJson(entry));
  entry.hash = hash;
  const spliceable = text !== undefined && text.length > 2 && text[0] === '{' && !('seq' in record) && !('prev_hash' in record) && !('hash' in record);
  const line = spliceable ? `{"seq":${head.seq + 1},${text.slice(1, -1)},"prev_hash":"${head.hash}","hash":"${hash}"}` : JSON.stringify(entry);
  return { entry, line, head: { seq: head.seq + 1, hash } };
}

export interface CheckpointSigner {
  key: string;
  keyId: string;
  writer: string;
}

export function chainCheckpoint(head: ChainHead, reason: CheckpointReason, signer: CheckpointSigner): { entry: CheckpointEntry; line: string; head: ChainHead } {
  const entry: Record<string, unknown> = {
    seq: head.seq + 1,
    type: 'checkpoint',
    reason,
    ts: new Date().toISOString(),
    writer: signer.writer,
    key_id: signer.keyId,
    prev_hash: head.hash,
  };
  entry.mac = checkpointMac(signer.key, entry);
  entry.hash = entryHash(entry);
  return { entry: entry as unknown as CheckpointEntry, line: JSON.stringify(entry), head: { seq: entry.seq as number, hash: entry.hash as string } };
}

/**
 * A queued or spooled record as an object. A line that no longer parses (a damaged spool file) is still written,
 * marked, rather than blocking the sink forever.
 */
export function parseRecordLine(line: string): Record<string, unknown> {
  try {
    const v = JSON.parse(line) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { type: 'unreadable', raw: line.slice(0, 4096) };
}

export function isCheckpoint(entry: Record<string, unknown>): boolean {
  return entry.type === 'checkpoint';
}
