/** The contract between the sink worker (batching, spool, retry) and a durable, chained audit sink. */
import type { CheckpointReason } from './chain.js';

export interface ChainedSink {
  /** `file` or `postgres`: names the sink in logs, metrics and the spool directory. */
  readonly name: string;
  /**
   * Links `records` (JSON texts of audit records, in order) into the sink's hash chain and stores them, followed
   * by a checkpoint when `checkpoint` is given. Throws when the sink cannot take them; the chain head only advances
   * on success, so a retry of the same records links them again where they belong.
   */
  write(records: readonly string[], checkpoint: CheckpointReason | null): Promise<void>;
  close(): Promise<void>;
}
