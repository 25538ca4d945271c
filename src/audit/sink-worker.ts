/**
 * Drives one chained sink off the request path: records wait in memory, go out in batches, and when the sink
 * fails they go to the disk spool and are retried with backoff, oldest first, so none is lost and order holds.
 * Also decides when a checkpoint is due (every N records, every T seconds, at close).
 *
 * "Full" (the spool could not take what the sink could not) is a latch: it is set when a record fits nowhere and
 * cleared by the first write the sink takes again, not by the drain finishing. Under load the drain can take a while,
 * and admitting calls meanwhile is safe: the sink is writing, and their records queue in memory behind the spool,
 * exactly as in normal operation.
 */
import type { CheckpointReason } from './chain.js';
import type { ChainedSink } from './sink.js';
import type { Segment, Spool } from './spool.js';

export interface WorkerLog {
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
}

export interface SinkWorkerOptions {
  sink: ChainedSink;
  spool: Spool;
  maxRecords: number;
  maxDelayMs: number;
  /** null: no checkpoint key configured, so no checkpoints. */
  checkpoint: { everyRecords: number; everySeconds: number } | null;
  onFull: 'fail-closed' | 'fail-open';
  log: WorkerLog;
}

export interface SinkState {
  state: 'ok' | 'retrying';
  /** In memory, not yet written or spooled. */
  queued: number;
  spooled: number;
  spoolBytes: number;
  /** The spool could not take what the sink could not: new calls are refused under fail-closed. */
  full: boolean;
  dropped: number;
  lastError?: string;
}

/** Where the records of the write in progress came from; `landed` once they are in the sink. */
interface Inflight {
  segments: readonly Segment[];
  queued: number;
  landed: boolean;
}

const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;
/**
 * While calls are refused (fail-closed, spool full) the sink is retried at least this often: every second of
 * backoff past the outage is a second of refused calls, and a failed attempt costs one open() or one connect.
 */
const MAX_RETRY_WHILE_REFUSING_MS = 500;
/** Under fail-open, records that fit neither the sink nor the spool are held in memory up to this many, then dropped. */
const MAX_MEMORY_RECORDS = 10_000;

export class SinkWorker {
  private queue: string[] = [];
  private queueBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private failing = false;
  private retries = 0;
  private retryAt = 0;
  private lastError: string | undefined;
  private full = false;
  private dropped = 0;
  private closed = false;
  private sinceCheckpoint = 0;
  private lastCheckpoint = Date.now();
  private intervalDue = false;
  private readonly ticker: NodeJS.Timeout | null;
  /** The write in progress: which spool segments, or how many records from the head of the queue. */
  private inflight: Inflight | null = null;
  /** After `flushSync`: the async loop stops touching the queue, the spool and the sink. */
  private flushed = false;

  constructor(private readonly opts: SinkWorkerOptions) {
    const cp = opts.checkpoint;
    this.ticker = cp
      ? setInterval(() => {
          if (this.sinceCheckpoint > 0 && Date.now() - this.lastCheckpoint >= cp.everySeconds * 1000) {
            this.intervalDue = true;
            this.schedule(0);
          }
        }, Math.min(1000, cp.everySeconds * 1000))
      : null;
    this.ticker?.unref();
    // Segments left by an earlier run go out as soon as the sink answers.
    if (!opts.spool.empty) this.schedule(0);
  }

  get name(): string {
    return this.opts.sink.name;
  }

  /** On the request path: memory only. */
  enqueue(line: string): void {
    if (this.closed) return;
    if (this.full && this.opts.onFull === 'fail-open' && this.queue.length >= MAX_MEMORY_RECORDS) {
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 1000 === 0) {
        this.opts.log.error('audit records DROPPED: the sink is down and its spool is full (audit.onFull: fail-open)', { sink: this.name, dropped: this.dropped });
      }
      return;
    }
    this.queue.push(line);
    this.queueBytes += line.length + 1;
    this.schedule(this.queue.length >= this.opts.maxRecords ? 0 : this.opts.maxDelayMs);
  }

  accepting(): boolean {
    return !(this.full && this.opts.onFull === 'fail-closed');
  }

  state(): SinkState {
    const s = this.opts.spool.size();
    return {
      state: this.failing ? 'retrying' : 'ok',
      queued: this.queue.length,
      spooled: s.records,
      spoolBytes: s.bytes,
      full: this.full,
      dropped: this.dropped,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  backlog(): { records: number; bytes: number } {
    const s = this.opts.spool.size();
    return { records: this.queue.length + s.records, bytes: this.queueBytes + s.bytes };
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    const at = Date.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delayMs);
  }

  private run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          if (this.failing && Date.now() < this.retryAt) {
            // Not time to retry yet: move what waits in memory to disk, where a crash cannot take it.
            await this.toSpool();
            this.schedule(this.retryAt - Date.now());
          } else {
            await this.pump();
          }
        } while (this.again && !this.closed);
      } catch (err) {
        this.opts.log.error('audit sink worker failed', { sink: this.name, error: (err as Error).stack ?? String(err) });
        this.retryLater();
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /**
   * Delivers spool (oldest) then memory, until empty or the sink fails. While the spool drains, memory waits in
   * memory rather than being written to the spool and read back: the sink is up, and that round trip is what kept
   * a drain under load from ever catching up.
   */
  private async pump(): Promise<boolean> {
    const { spool } = this.opts;
    for (;;) {
      if (this.flushed) return false;
      if (!spool.empty) {
        const { segments, records } = await spool.peek(this.opts.maxRecords);
        if (this.flushed) return false;
        if (!(await this.deliver(records, { segments, queued: 0, landed: false }))) {
          if (this.flushed) return false;
          await this.toSpool();
          return this.retryLater();
        }
        await spool.remove(segments);
        continue;
      }
      if (this.queue.length === 0) {
        if (this.intervalDue && !(await this.deliver([]))) return this.retryLater();
        return true;
      }
      const batch = this.queue.slice(0, this.opts.maxRecords);
      if (!(await this.deliver(batch, { segments: [], queued: batch.length, landed: false }))) {
        if (this.flushed) return false;
        await this.toSpool();
        return this.retryLater();
      }
      this.take(batch.length);
    }
  }

  private take(n: number): string[] {
    const out = this.queue.splice(0, n);
    for (const l of out) this.queueBytes -= l.length + 1;
    return out;
  }

  private checkpointFor(n: number, closing: boolean): CheckpointReason | null {
    const cp = this.opts.checkpoint;
    if (!cp) return null;
    if (closing) return 'close';
    if (this.sinceCheckpoint + n >= cp.everyRecords) return 'count';
    if (this.intervalDue) return 'interval';
    return null;
  }

  private async deliver(
    records: readonly string[],
    source: Inflight = { segments: [], queued: 0, landed: false },
    closing = false,
  ): Promise<boolean> {
    const reason = this.checkpointFor(records.length, closing);
    if (records.length === 0 && !reason) return true;
    this.inflight = source;
    try {
      await this.opts.sink.write(records, reason, () => {
        source.landed = true;
      });
    } catch (err) {
      if (this.flushed) return false;
      const msg = (err as Error).message ?? String(err);
      if (!this.failing) this.opts.log.error('audit sink failed; records go to the spool and are retried', { sink: this.name, error: msg });
      this.failing = true;
      this.lastError = msg;
      return false;
    } finally {
      this.inflight = null;
    }
    if (this.flushed) return false; // flushSync counted this write; nothing here may count it again
    if (this.failing) {
      this.opts.log.info('audit sink is back; delivering the spool', { sink: this.name, spooled: this.opts.spool.size().records, queued: this.queue.length });
      this.failing = false;
      this.retries = 0;
      this.lastError = undefined;
    }
    if (this.full) {
      this.full = false;
      this.opts.log.info('audit sink takes writes again: calls are accepted; the backlog drains in order', { sink: this.name });
    }
    this.sinceCheckpoint += records.length;
    if (reason) {
      this.sinceCheckpoint = 0;
      this.lastCheckpoint = Date.now();
      this.intervalDue = false;
    }
    return true;
  }

  /** Moves the memory queue to the spool, as much as the budget allows, in order. */
  private async toSpool(): Promise<void> {
    let n = Math.min(this.opts.maxRecords, this.queue.length);
    while (this.queue.length > 0 && n > 0) {
      let ok = false;
      try {
        ok = await this.opts.spool.append(this.queue.slice(0, n));
      } catch (err) {
        this.opts.log.error('audit spool write failed', { sink: this.name, error: (err as Error).message });
      }
      if (ok) {
        this.take(n);
        n = Math.min(this.opts.maxRecords, this.queue.length);
      } else {
        n = Math.floor(n / 2); // a smaller piece may still fit the budget
      }
    }
    // A latch: cleared by the sink taking a write (deliver), not by the queue happening to fit later.
    const wasFull = this.full;
    if (this.queue.length > 0) this.full = true;
    if (this.full && !wasFull) {
      this.opts.log.error(
        this.opts.onFull === 'fail-closed'
          ? 'audit spool full: new calls are refused until the sink is back (audit.onFull: fail-closed)'
          : 'audit spool full: records are held in memory, then dropped (audit.onFull: fail-open)',
        { sink: this.name, queued: this.queue.length },
      );
    }
  }

  private retryLater(): false {
    this.retries++;
    const cap = this.full && this.opts.onFull === 'fail-closed' ? MAX_RETRY_WHILE_REFUSING_MS : MAX_RETRY_MS;
    const base = Math.min(cap, MIN_RETRY_MS * 1.6 ** this.retries);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.retryAt = Date.now() + delay;
    this.schedule(delay);
    return false;
  }

  /** Delivers what it can, closes the chain with a checkpoint, spools the rest. */
  async close(): Promise<void> {
    if (this.flushed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ticker) clearInterval(this.ticker);
    if (this.running) await this.running;
    this.failing = false; // one last attempt, whatever the backoff says
    let delivered = false;
    try {
      delivered = (await this.pump()) && (await this.deliver([], undefined, true));
    } catch (err) {
      this.opts.log.error('audit sink close failed', { sink: this.name, error: (err as Error).message });
    }
    if (this.flushed) return;
    if (this.timer) clearTimeout(this.timer);
    if (!delivered) {
      await this.toSpool();
      if (this.queue.length > 0) {
        this.opts.log.error('audit records LOST at shutdown: the sink is down and the spool is full', { sink: this.name, lost: this.queue.length });
      } else {
        this.opts.log.warn('audit sink unavailable at shutdown; records stay in the spool for the next start', { sink: this.name, spooled: this.opts.spool.size().records });
      }
    }
    await this.opts.sink.close();
  }

  /**
   * The last resort, for a process about to die (uncaughtException, fatal signal): synchronously delivers the
   * spool and the queue and closes the chain with a checkpoint, or, for a sink that cannot write synchronously
   * (PostgreSQL) or that fails now, puts the queue in the spool for the next start. Takes over from the async loop
   * whatever state it is in: a write already in the sink is counted, not repeated. Nothing is written after it.
   */
  flushSync(): { written: number; spooled: number; lost: number } {
    const out = { written: 0, spooled: 0, lost: 0 };
    if (this.flushed) return out;
    this.flushed = true;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ticker) clearInterval(this.ticker);
    const { sink, spool, log } = this.opts;
    spool.freeze();
    if (sink.takeOverSync && sink.writeSync) {
      // The write in flight, if it reached the sink, is done (even if its promise has not settled): drop its
      // records from where they came from, or they would be written twice.
      sink.takeOverSync();
      const w = this.inflight;
      if (w?.landed) {
        spool.removeSync(w.segments);
        out.written += w.queued + w.segments.reduce((n, seg) => n + seg.records, 0);
        this.take(w.queued);
      }
      this.inflight = null;
      try {
        while (!spool.empty) {
          const { segments, records } = spool.peekSync(this.opts.maxRecords);
          sink.writeSync(records, null);
          spool.removeSync(segments);
          out.written += records.length;
        }
        while (this.queue.length > 0) {
          const batch = this.queue.slice(0, this.opts.maxRecords);
          sink.writeSync(batch, null);
          this.take(batch.length);
          out.written += batch.length;
        }
        if (this.opts.checkpoint) sink.writeSync([], 'close');
      } catch (err) {
        log.error('audit sink failed in the last-resort flush; the rest goes to the spool', { sink: this.name, error: (err as Error).message });
      }
    }
    if (this.queue.length > 0) {
      try {
        spool.appendSync(this.queue, true);
        out.spooled = this.queue.length;
        this.take(this.queue.length);
      } catch (err) {
        out.lost = this.queue.length;
        log.error('audit records LOST in the last-resort flush: neither the sink nor the spool took them', { sink: this.name, lost: out.lost, error: (err as Error).message });
      }
    }
    this.queue = [];
    this.queueBytes = 0;
    return out;
  }
}
