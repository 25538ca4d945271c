/**
 * The disk spool: records a sink could not take wait here, in order, as segment files
 * (`<dir>/<sink>/<16-digit number>.jsonl`, one unchained record per line) until the sink is back. All sinks share
 * one byte budget. Segments are written to a temporary name, synced and renamed, so a crash never leaves half a
 * segment; a segment is deleted only after the sink has taken all of it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The byte budget shared by every sink's spool. */
export class SpoolBudget {
  used = 0;
  constructor(readonly maxBytes: number) {}
  fits(bytes: number): boolean {
    return this.used + bytes <= this.maxBytes;
  }
}

interface Segment {
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
      await rename(tmp, path);
    } catch (err) {
      this.budget.used -= bytes;
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    this.segments.push({ path, bytes, records: records.length });
    this.records += records.length;
    this.bytes += bytes;
    return true;
  }

  /** The oldest segment's records, without removing it. */
  async peek(): Promise<string[] | null> {
    const s = this.segments[0];
    if (!s) return null;
    return (await readFile(s.path, 'utf8')).split('\n').filter((l) => l !== '');
  }

  /** Removes the oldest segment once its records are delivered. */
  async shift(): Promise<void> {
    const s = this.segments.shift();
    if (!s) return;
    await unlink(s.path).catch(() => undefined);
    this.records -= s.records;
    this.bytes -= s.bytes;
    this.budget.used -= s.bytes;
  }
}
