/** The contract between the sink worker (batching, spool, retry) and a durable, chained audit sink. */
import type { CheckpointReason } from './chain.js';

export interface ChainedSink {
  /** `file` or `postgres`: names the sink in logs, metrics and the spool directory. */
  readonly name: string;
  /**
   * Links `records` (JSON texts of audit records, in order) into the sink's hash chain and stores them, followed
   * by a checkpoint when `checkpoint` is given. Throws when the sink cannot take them; the chain head only advances
   * on success, so a retry of the same records links them again where they belong. `landed`, if the sink calls it,
   * says the records are in the sink even though the promise has not settled yet (see `takeOverSync`).
   */
  write(records: readonly string[], checkpoint: CheckpointReason | null, landed?: () => void): Promise<void>;
  close(): Promise<void>;
  /**
   * The last-resort path (`AuditSink.flushSync`), for sinks that can write synchronously (the file). Stops async
   * writes, and calls the `landed` callback of a write in flight whose records already reached the sink.
   */
  takeOverSync?(): void;
  /** `write`, synchronously; only after `takeOverSync`. */
  writeSync?(records: readonly string[], checkpoint: CheckpointReason | null): void;
}
