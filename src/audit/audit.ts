/**
 * The audit trail: exactly one structured record per decision, enqueued on the request path and written in
 * batches to hash-chained sinks (a JSON-lines file, PostgreSQL), with a disk spool when a sink is down.
 * Arguments appear only after redaction; tokens never; correlatable ids (session, jti) only as HMACs.
 * Design and failure behaviour: src/audit/README.md.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { keyId, type CheckpointSigner } from './chain.js';
import { FileSink } from './file-sink.js';
import { PostgresSink } from './postgres-sink.js';
import type { ChainedSink } from './sink.js';
import { SinkWorker, type SinkState, type WorkerLog } from './sink-worker.js';
import { Spool, SpoolBudget } from './spool.js';

/** Classified in one place: src/errors/outcome.ts. */
export type AuditOutcome = 'allow' | 'deny' | 'invalid' | 'approval_required' | 'error';

export interface AuditRecord {
  decision_id: string;
  timestamp?: string;
  /** W3C trace and span id of the request (src/telemetry/tracing.ts), when tracing is on. */
  trace_id?: string;
  span_id?: string;
  /** e.g. tools/call, tools/list, authenticate, initialize */
  action: string;
  outcome: AuditOutcome;
  reasons: string[];
  subject: { iss?: string; sub: string; client_id?: string; roles: string[]; anonymous: boolean } | null;
  session?: string | null;
  endpoint?: string;
  /** The MCP protocol revision the request was made under. */
  protocol_version?: string;
  server?: string;
  tool?: string;
  /** The prompt name or resource URI a non-tool decision was about. */
  target?: string;
  arguments?: unknown;
  erased?: string[];
  /** The credential profile and a label of the lease a call carried; never the secret. */
  credential?: { profile: string; lease?: string };
  masked?: Record<string, number>;
  bundle?: { revision: string; generation: number } | null;
  error_code?: number;
  /** For an invalid request: the argument field that failed validation. */
  field?: string;
  /** Internal detail of a failure (e.g. the policy evaluation error); never sent to the caller. */
  error_detail?: string;
  stage?: string;
  visible_tools?: number;
  latency_ms: { total: number; policy?: number; upstream?: number };
  upstream_error?: boolean;
  /** The quota bucket the call was charged to (src/quota), and the partition key policy gave. */
  quota?: { bucket: string; key?: string };
  remote?: string;
  /** Human approval of this call, or the approval a reviewer action concerns (src/approval). */
  approval?: {
    id: string;
    status: 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn';
    reviewer?: { iss?: string; sub: string };
    comment?: string;
    closed_reason?: string;
    requester?: { iss?: string; sub: string; client_id?: string };
    call_hash?: string;
    /**
     * The second look when an approved call was released: the requester's token re-checked and the call's policy
     * input evaluated afresh against the bundle active then (its own decision_id and bundle). The record's own
     * decision_id and bundle are the decision that held the call.
     */
    release?: {
      outcome: 'allow' | 'needs_approval' | 'deny' | 'error' | 'token_invalid';
      decision_id?: string;
      bundle?: { revision: string; generation: number } | null;
      reasons?: string[];
    };
  };
}

export interface AuditBacklog {
  /** Records not yet in every sink: in memory plus in the spool, summed over sinks. */
  records: number;
  bytes: number;
  sinks: Record<string, SinkState>;
}

export interface AuditSink {
  record(rec: AuditRecord): void;
  /** HMAC with the deployment key: lets records be correlated without storing the identifier itself. */
  hash(value: string): string;
  /**
   * Opens the sinks (files, connections, spool, batch timers). Called by the gateway's lifecycle so that building
   * it opens nothing; a record arriving first opens them too. Idempotent.
   */
  open(): void;
  close(): Promise<void>;
  /**
   * The last resort for a process about to die (uncaughtException, a fatal error): synchronously writes what is
   * queued and spooled to the file and closes its chain with a checkpoint; what a sink cannot take synchronously
   * (PostgreSQL) or right now goes to the spool for the next start. No event-loop turn is needed, so it is safe
   * in a handler that exits right after. Records arriving after it are not kept; `close()` after it does nothing.
   */
  flushSync(): AuditFlushResult;
  /**
   * False while a sink is down and its spool is full under `audit.onFull: fail-closed`: the pipeline refuses new
   * calls rather than run calls it cannot audit.
   */
  accepting(): boolean;
  /** What has not reached every sink yet, for metrics and /readyz. */
  backlog(): AuditBacklog;
}

/** What `flushSync` did, summed over sinks. */
export interface AuditFlushResult {
  /** Records written to a sink by the flush. */
  written: number;
  /** Records put in the spool for the next start. */
  spooled: number;
  /** Records that neither a sink nor the spool took (logged as errors). */
  lost: number;
}

export interface AuditOptions {
  file?: string;
  stdout: boolean;
  hmacKey?: string;
  /** File rotation: rotate before the file would exceed maxFileBytes; keep maxFiles rotated files (0: all). */
  maxFileBytes?: number;
  maxFiles?: number;
  postgres?: { url: string; table: string };
  /** Without a key there are no checkpoints, and a cut tail goes unnoticed. */
  checkpoint?: { key: string; everyRecords: number; everySeconds: number };
  batch?: { maxRecords: number; maxDelayMs: number };
  spool?: { dir: string; maxBytes: number };
  onFull?: 'fail-closed' | 'fail-open';
  log?: WorkerLog;
}

const SILENT: WorkerLog = { info() {}, warn() {}, error() {} };

export function createAuditSink(opts: AuditOptions): AuditSink {
  const log = opts.log ?? SILENT;
  const key = opts.hmacKey ?? randomBytes(32).toString('hex');
  const writer = randomUUID();
  const signer: CheckpointSigner | null = opts.checkpoint ? { key: opts.checkpoint.key, keyId: keyId(opts.checkpoint.key), writer } : null;
  const warn = (msg: string, meta?: Record<string, unknown>) => log.warn(msg, meta);
  // Opened by open(), not here: creating the sink must not create files or connections (see src/lifecycle.ts).
  let workers: SinkWorker[] | null = null;
  const open = (): SinkWorker[] => (workers ??= openWorkers());
  function openWorkers(): SinkWorker[] {
    const sinks: ChainedSink[] = [];
    if (opts.file) sinks.push(new FileSink({ file: opts.file, maxBytes: opts.maxFileBytes ?? 0, maxFiles: opts.maxFiles ?? 0, signer, warn }));
    if (opts.postgres) sinks.push(new PostgresSink({ url: opts.postgres.url, table: opts.postgres.table, signer, warn }));
    if (sinks.length > 0 && !signer) log.warn('audit checkpoints are off (no audit.checkpoint.keyEnv): edits and deletions are detectable, a cut tail is not');
    const budget = new SpoolBudget(opts.spool?.maxBytes ?? 256 * 1024 * 1024);
    const spoolDir = opts.spool?.dir ?? 'audit-spool';
    return sinks.map(
      (sink) =>
        new SinkWorker({
          sink,
          spool: new Spool(spoolDir, sink.name, budget),
          maxRecords: opts.batch?.maxRecords ?? 500,
          maxDelayMs: opts.batch?.maxDelayMs ?? 50,
          checkpoint: opts.checkpoint ? { everyRecords: opts.checkpoint.everyRecords, everySeconds: opts.checkpoint.everySeconds } : null,
          onFull: opts.onFull ?? 'fail-closed',
          log,
        }),
    );
  }
  let closed: Promise<void> | null = null;
  return {
    open() {
      open();
    },
    record(rec) {
      rec.timestamp ??= new Date().toISOString();
      const line = JSON.stringify(rec);
      if (opts.stdout) process.stdout.write(`${line}\n`);
      for (const w of open()) w.enqueue(line);
    },
    hash(value) {
      return `hmac-sha256:${createHmac('sha256', key).update(value).digest('hex').slice(0, 32)}`;
    },
    accepting() {
      for (const w of workers ?? []) if (!w.accepting()) return false;
      return true;
    },
    backlog() {
      const out: AuditBacklog = { records: 0, bytes: 0, sinks: {} };
      for (const w of workers ?? []) {
        const b = w.backlog();
        out.records += b.records;
        out.bytes += b.bytes;
        out.sinks[w.name] = w.state();
      }
      return out;
    },
    close() {
      closed ??= Promise.all((workers ?? []).map((w) => w.close())).then(() => undefined);
      return closed;
    },
    flushSync() {
      const out: AuditFlushResult = { written: 0, spooled: 0, lost: 0 };
      for (const w of workers ?? []) {
        const r = w.flushSync();
        out.written += r.written;
        out.spooled += r.spooled;
        out.lost += r.lost;
      }
      return out;
    },
  };
}
