/**
 * The disk spool: records a sink could not take wait here, in order, as segment files
 * (`<dir>/<sink>/<16-digit number>.jsonl`, one unchained record per line) until the sink is back. All sinks share
 * one byte budget. Segments are written to a temporary name, synced and renamed, so a crash never leaves half a
 * segment; a segment is deleted only after the sink has taken all of it.
 *
 * The last-resort flush (`SinkWorker.flushSync`) works on the spool synchronously: it `freeze()`s it, so an async
 * append still in flight cannot commit a segment behind its back, and removes segments by identity, so a late
 * async removal cannot take a segment that was not delivered.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The byte budget shared by every sink's spool. */
export class SpoolBudget {
  used = 0;
  constructor(readonly maxBytes: number) {}
  fits(bytes: number): boolean {
    return this.used + bytes <= this.maxBytes;
  }
}

export interface Segment {
  path: string;
  bytes: number;
  records: number;
}

export class Spool {
  private readonly dir: string;
  private readonly segments: Segment[] = [];
  private next = 1;
  private records = 0;
  private bytes = 0;
  private frozen = false;

  constructor(root: string, sink: string, private readonly budget: SpoolBudget) {
    this.dir = join(root, sink);
    // Created on first use: a gateway whose sinks never fail leaves no spool directory behind.
    if (!existsSync(this.dir)) return;
    // Segments left by an earlier run are delivered first: they are older than anything this run records.
    const names = readdirSync(this.dir)
      .filter((n) => /^\d{16}\.jsonl$/.test(n))
      .sort();
    for (const n of names) {
      const path = join(this.dir, n);
      const data = readFileSync(path);
      const bytes = data.length;
      let records = 0;
      for (const b of data) if (b === 0x0a) records++;
      this.segments.push({ path, bytes, records });
      this.records += records;
      this.bytes += bytes;
      budget.used += bytes;
      this.next = Math.max(this.next, Number(n.slice(0, 16)) + 1);
    }
    for (const n of readdirSync(this.dir)) if (n.endsWith('.tmp')) void unlink(join(this.dir, n)).catch(() => undefined);
  }

  get empty(): boolean {
    return this.segments.length === 0;
  }

  size(): { records: number; bytes: number; segments: number } {
    return { records: this.records, bytes: this.bytes, segments: this.segments.length };
  }

  /** Appends `records` as one segment if the budget allows; false (nothing written) when it does not. */
  async append(records: readonly string[]): Promise<boolean> {
    if (records.length === 0) return true;
    if (this.frozen) return false;
    const data = `${records.join('\n')}\n`;
    const bytes = Buffer.byteLength(data);
    if (!this.budget.fits(bytes)) return false;
    this.budget.used += bytes; // reserved before the await: two sinks must not both take the last bytes
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const name = `${String(this.next++).padStart(16, '0')}.jsonl`;
    const path = join(this.dir, name);
    const tmp = `${path}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // The rename commits the segment; synchronous, so the frozen check and the commit are one step.
      if (this.frozen) throw new Error('spool frozen by the last-resort flush');
      renameSync(tmp, path);
    } catch (err) {
      this.budget.used -= bytes;
      await unlink(tmp).catch(() => undefined);
      if (this.frozen) return false;
      throw err;
    }
    this.segments.push({ path, bytes, records: records.length });
    this.records += records.length;
    this.bytes += bytes;
    return true;
  }

  /**
   * The last-resort path: writes `records` as one segment synchronously. `overBudget` lets it exceed
   * `spool.maxBytes`: at exit, a few more bytes on disk are better than audit records lost.
   */
  appendSync(records: readonly string[], overBudget: boolean): boolean {
    if (records.length === 0) return true;
    const data = Buffer.from(`${records.join('\n')}\n`);
    if (!overBudget && !this.budget.fits(data.length)) return false;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${String(this.next++).padStart(16, '0')}.jsonl`);
    const tmp = `${path}.sync.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.budget.used += data.length;
    this.segments.push({ path, bytes: data.length, records: records.length });
    this.records += records.length;
    this.bytes += data.length;
    return true;
  }

  /** No async append commits after this (see the file comment). */
  freeze(): void {
    this.frozen = true;
  }

  /** The oldest segments, together at most `maxRecords` records (at least one segment), without removing them. */
  async peek(maxRecords: number): Promise<{ segments: Segment[]; records: string[] }> {
    const segments = this.oldest(maxRecords);
    const records: string[] = [];
    for (const s of segments) records.push(...(await readFile(s.path, 'utf8')).split('\n').filter((l) => l !== ''));
    return { segments, records };
  }

  peekSync(maxRecords: number): { segments: Segment[]; records: string[] } {
    const segments = this.oldest(maxRecords);
    const records: string[] = [];
    for (const s of segments) records.push(...readFileSync(s.path, 'utf8').split('\n').filter((l) => l !== ''));
    return { segments, records };
  }

  private oldest(maxRecords: number): Segment[] {
    const out: Segment[] = [];
    let n = 0;
    for (const s of this.segments) {
      if (out.length > 0 && n + s.records > maxRecords) break;
      out.push(s);
      n += s.records;
    }
    return out;
  }

  /**
   * Removes delivered segments. By identity, and idempotent: a segment the last-resort flush already delivered and
   * removed is not counted twice, and no other segment is taken in its place.
   */
  async remove(segments: readonly Segment[]): Promise<void> {
    for (const s of this.forget(segments)) await unlink(s.path).catch(() => undefined);
  }

  removeSync(segments: readonly Segment[]): void {
    for (const s of this.forget(segments)) {
      try {
        unlinkSync(s.path);
      } catch {
        // already gone: nothing to deliver twice
      }
    }
  }

  private forget(segments: readonly Segment[]): Segment[] {
    const gone: Segment[] = [];
    for (const s of segments) {
      const i = this.segments.indexOf(s);
      if (i < 0) continue;
      this.segments.splice(i, 1);
      this.records -= s.records;
      this.bytes -= s.bytes;
      this.budget.used -= s.bytes;
      gone.push(s);
    }
    return gone;
  }
}
