/**
 * The JSON-lines file sink: one chained entry per line, rotated by size into numbered siblings (`F.1` oldest,
 * `F.2`, …, then `F` itself), with the chain continuing across files and across restarts.
 *
 * A batch is written idempotently: note the file's length, append, fdatasync, and only then advance the chain head.
 * If any step fails (ENOSPC half way through a batch, EIO at the sync) the file is cut back to the noted length, so
 * the retry of the same batch neither tears a line nor repeats one. The append and its undo are synchronous calls
 * (one batch, a bounded write): nothing can run between a partial write and its undo, and the last-resort
 * `writeSync` path always finds the file at a batch boundary.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
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

const fdatasyncAsync = promisify(fdatasync);

/** A batch linked into the chain but not yet written: the lines and what the head and file become once it is. */
interface Prepared {
  data: Buffer;
  head: ChainHead;
  /** Rotate to this name first. */
  rotateTo: string | null;
}

export class FileSink implements ChainedSink {
  readonly name = 'file';
  private head: ChainHead = EMPTY_HEAD;
  private size = 0;
  private needsNewline = false;
  /** The file was rotated, but the signed anchor that must open the new file is not written yet (that write failed). */
  private anchorDue = false;
  /** A failed write whose undo failed too: cut the file back to this length before anything else is written. */
  private cutTo: number | null = null;
  /** An append that is complete in the file and waiting for its fdatasync: the head it leads to. */
  private syncing: { head: ChainHead; size: number; landed?: () => void } | null = null;
  /** Set by `takeOverSync`: from then on only the synchronous last-resort path writes. */
  private takenOver = false;

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

  async write(records: readonly string[], checkpoint: CheckpointReason | null, landed?: () => void): Promise<void> {
    if (this.takenOver) throw new Error('the audit file is being flushed for exit');
    const p = this.prepare(records, checkpoint);
    if (!p) return;
    const { fd, start } = this.append(p);
    const size = start + p.data.length;
    this.syncing = { head: p.head, size, landed };
    try {
      await fdatasyncAsync(fd);
    } catch (err) {
      // Not durable: take it back, so the retry writes it once. Unless the last-resort path already counted it.
      if (!this.takenOver) this.undo(fd, start);
      throw err;
    } finally {
      this.syncing = null;
      closeQuietly(fd);
    }
    if (this.takenOver) return;
    this.committed(p, size);
    landed?.();
  }

  /**
   * The last-resort path: stops async writes, and adopts the one in flight if its lines are already in the file
   * (it was waiting for its fdatasync, which the synchronous writes after it will cover): its `landed` is called.
   */
  takeOverSync(): void {
    this.takenOver = true;
    const s = this.syncing;
    if (!s) return;
    this.syncing = null;
    this.head = s.head;
    this.size = s.size;
    this.needsNewline = false;
    this.anchorDue = false;
    s.landed?.();
  }

  /** The same write, synchronously (after `takeOverSync`): for the exit path, where no event-loop turn may come. */
  writeSync(records: readonly string[], checkpoint: CheckpointReason | null): void {
    const p = this.prepare(records, checkpoint);
    if (!p) return;
    const { fd, start } = this.append(p);
    try {
      fdatasyncSync(fd);
    } catch (err) {
      this.undo(fd, start);
      throw err;
    } finally {
      closeQuietly(fd);
    }
    this.committed(p, start + p.data.length);
  }

  /** Links the batch after the current head; writes nothing. Null when there is nothing to write. */
  private prepare(records: readonly string[], checkpoint: CheckpointReason | null): Prepared | null {
    let head = this.head;
    const lines: string[] = [];
    let estimate = 0;
    for (const r of records) estimate += r.length + 200;
    let rotateTo: string | null = null;
    if (this.size > 0 && this.opts.maxBytes > 0 && this.size + estimate > this.opts.maxBytes) {
      rotateTo = `${this.opts.file}.${(rotatedFiles(this.opts.file).at(-1)?.index ?? 0) + 1}`;
    }
    // The new file opens with an authenticated anchor, so it verifies on its own once older files are gone.
    if ((rotateTo || this.anchorDue) && this.opts.signer) {
      const cp = chainCheckpoint(head, 'rotate', this.opts.signer);
      lines.push(cp.line);
      head = cp.head;
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
    if (lines.length === 0) return null;
    const newline = this.needsNewline && !rotateTo ? '\n' : '';
    return { data: Buffer.from(`${newline}${lines.join('\n')}\n`), head, rotateTo };
  }

  /**
   * Appends the whole batch or nothing: on any error the bytes written so far are cut off again before it throws.
   * Returns the open descriptor and the length the file had before.
   */
  private append(p: Prepared): { fd: number; start: number } {
    const { file } = this.opts;
    if (this.cutTo !== null) {
      // Only ever shorten: truncate() past the end would pad the file with zero bytes.
      if (existsSync(file) && statSync(file).size > this.cutTo) truncateSync(file, this.cutTo);
      this.cutTo = null;
    }
    if (p.rotateTo) {
      renameSync(file, p.rotateTo);
      this.size = 0;
      this.needsNewline = false;
      // Until a write lands in the new file, the next attempt must still open it with the anchor.
      this.anchorDue = this.opts.signer !== null;
      this.prune();
    }
    const fd = openSync(file, 'a');
    let start = -1;
    try {
      start = fstatSync(fd).size;
      for (let off = 0; off < p.data.length; ) {
        const n = writeSync(fd, p.data, off, p.data.length - off);
        if (n <= 0) throw new Error(`audit file: write made no progress at byte ${off} of ${p.data.length}`);
        off += n;
      }
    } catch (err) {
      if (start >= 0) this.undo(fd, start);
      closeQuietly(fd);
      throw err;
    }
    return { fd, start };
  }

  /** Cuts the file back to `start`; if even that fails, the next write does it first. */
  private undo(fd: number, start: number): void {
    try {
      ftruncateSync(fd, start);
    } catch (err) {
      this.cutTo = start;
      this.opts.warn('could not cut a failed audit write back; the next write does it first', { file: this.opts.file, error: (err as Error).message });
    }
  }

  private committed(p: Prepared, size: number): void {
    this.head = p.head;
    this.size = size;
    this.needsNewline = false;
    this.anchorDue = false;
  }

  private prune(): void {
    if (this.opts.maxFiles <= 0) return;
    const rotated = rotatedFiles(this.opts.file);
    for (const old of rotated.slice(0, Math.max(0, rotated.length - this.opts.maxFiles))) {
      try {
        unlinkSync(old.path);
      } catch {
        // already gone
      }
    }
  }

  async close(): Promise<void> {
    // Each batch opens and closes the file: nothing is held open.
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the data was synced (or cut back) before: a failing close changes nothing
  }
}
