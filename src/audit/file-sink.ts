/**
 * The JSON-lines file sink: one chained entry per line, rotated by size into numbered siblings (`F.1` oldest,
 * `F.2`, …, then `F` itself), with the chain continuing across files and across restarts.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { appendFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { chainCheckpoint, chainRecord, EMPTY_HEAD, parseRecordLine, type ChainHead, type CheckpointReason, type CheckpointSigner } from './chain.js';
import type { ChainedSink } from './sink.js';

export interface FileSinkOptions {
  file: string;
  /** Rotate before a write would take the file past this size. */
  maxBytes: number;
  /** Rotated files kept; older ones are deleted (0 keeps all). */
  maxFiles: number;
  signer: CheckpointSigner | null;
  warn: (msg: string, meta?: Record<string, unknown>) => void;
}

/** Rotated siblings of `file` (`file.1`, `file.2`, …), oldest first. */
export function rotatedFiles(file: string): Array<{ path: string; index: number }> {
  const dir = dirname(file);
  const base = basename(file);
  if (!existsSync(dir)) return [];
  const out: Array<{ path: string; index: number }> = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${base}.`)) continue;
    const rest = name.slice(base.length + 1);
    if (/^\d+$/.test(rest)) out.push({ path: join(dir, name), index: Number(rest) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/**
 * The last complete line of a file (a partial last line, left by a crash mid-write, is skipped) and whether the
 * file ends without a newline. Reads backwards in growing chunks, so a large file costs only its tail.
 */
export function lastCompleteLine(path: string): { line: string | null; partial: boolean } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { line: null, partial: false };
    for (let want = 64 * 1024; ; want *= 4) {
      const len = Math.min(size, want);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      const text = buf.toString('utf8');
      const partial = !text.endsWith('\n');
      const end = text.lastIndexOf('\n'); // end of the last complete line
      if (end >= 0) {
        const start = text.lastIndexOf('\n', end - 1);
        if (start >= 0 || len === size) return { line: text.slice(start + 1, end), partial };
      } else if (len === size) {
        return { line: null, partial };
      }
      if (len === size) return { line: null, partial };
    }
  } finally {
    closeSync(fd);
  }
}

export class FileSink implements ChainedSink {
  readonly name = 'file';
  private head: ChainHead = EMPTY_HEAD;
  private size = 0;
  private needsNewline = false;

  constructor(private readonly opts: FileSinkOptions) {
    mkdirSync(dirname(opts.file), { recursive: true });
    this.recoverHead();
  }

  /** The chain continues where the newest file ends; an unparseable or unchained tail starts a new chain. */
  private recoverHead(): void {
    const { file } = this.opts;
    const candidates = [...rotatedFiles(file).map((r) => r.path)];
    if (existsSync(file)) {
      this.size = statSync(file).size;
      candidates.push(file);
    }
    for (let i = candidates.length - 1; i >= 0; i--) {
      const path = candidates[i]!;
      const { line, partial } = lastCompleteLine(path);
      if (path === file) this.needsNewline = partial;
      if (partial) this.opts.warn('audit file ends with a partial line (a crash mid-write?); `audit verify` will report it', { file: path });
      if (line === null) continue;
      let entry: Record<string, unknown> | null = null;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = null;
      }
      if (entry && typeof entry.seq === 'number' && typeof entry.hash === 'string') {
        this.head = { seq: entry.seq, hash: entry.hash };
      } else {
        this.opts.warn('the last audit entry carries no chain fields; a new chain starts here and `audit verify` will report the break', { file: path });
      }
      return;
    }
  }

  async write(records: readonly string[], checkpoint: CheckpointReason | null): Promise<void> {
    let head = this.head;
    const lines: string[] = [];
    let estimate = 0;
    for (const r of records) estimate += r.length + 200;
    let rotateTo: string | null = null;
    if (this.size > 0 && this.opts.maxBytes > 0 && this.size + estimate > this.opts.maxBytes) {
      rotateTo = `${this.opts.file}.${(rotatedFiles(this.opts.file).at(-1)?.index ?? 0) + 1}`;
      // The new file opens with an authenticated anchor, so it verifies on its own once older files are gone.
      if (this.opts.signer) {
        const cp = chainCheckpoint(head, 'rotate', this.opts.signer);
        lines.push(cp.line);
        head = cp.head;
      }
    }
    for (const r of records) {
      const c = chainRecord(head, parseRecordLine(r), r);
      lines.push(c.line);
      head = c.head;
    }
    if (checkpoint && this.opts.signer) {
      const cp = chainCheckpoint(head, checkpoint, this.opts.signer);
      lines.push(cp.line);
      head = cp.head;
    }
    if (lines.length === 0) return;
    if (rotateTo) {
      await rename(this.opts.file, rotateTo);
      this.size = 0;
      this.needsNewline = false;
      await this.prune();
    }
    const data = `${this.needsNewline ? '\n' : ''}${lines.join('\n')}\n`;
    await appendFile(this.opts.file, data);
    this.needsNewline = false;
    this.size += Buffer.byteLength(data);
    this.head = head;
  }

  private async prune(): Promise<void> {
    if (this.opts.maxFiles <= 0) return;
    const rotated = rotatedFiles(this.opts.file);
    for (const old of rotated.slice(0, Math.max(0, rotated.length - this.opts.maxFiles))) {
      await unlink(old.path).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    // appendFile opens and closes per batch: nothing is held open.
  }
}
