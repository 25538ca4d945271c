/**
 * OPA-compatible decision logs: every policy evaluation becomes an OPA `EventV1` (opa v1/plugins/logs/plugin.go)
 * and is shipped, as OPA's logs plugin ships them, to an HTTP service in gzip'd JSON-array batches (POST,
 * Content-Encoding: gzip), with retry and exponential backoff, so existing OPA log consumers read them unchanged.
 *
 * Masking: the event's input is a copy in which the call's arguments are redacted as the decision says (drop →
 * `erased`, mask → `masked`, both JSON pointers under /input, as OPA's mask policy reports them); when there is no
 * decision to say what is sensitive (evaluation error) the arguments are erased whole. The token's `jti` claim
 * becomes its HMAC. Tokens are never in the input to begin with (src/identity keeps only verified claims).
 */
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Decision, DecisionLogger, RedactionSpec } from '../policy/index.js';
import { redact, emptyReport } from '../redaction/index.js';
import type { WorkerLog } from './sink-worker.js';

const gzip = promisify(gzipCb);

export interface DecisionLogOptions {
  url: string;
  maxBatch: number;
  maxDelayMs: number;
  headers: Record<string, string>;
  labels: Record<string, string>;
  bufferMaxEvents: number;
  timeoutMs: number;
  maxRetryDelayMs: number;
  /** Gateway version, in labels.version (OPA puts its own version there). */
  version: string;
  /** HMAC for correlatable identifiers (the audit sink's). */
  hash: (value: string) => string;
  log: WorkerLog;
}

/** The fields of OPA's EventV1 that Portcullis fills. Keep in step with opa v1/plugins/logs/plugin.go. */
export interface DecisionLogEvent {
  labels: Record<string, string>;
  decision_id: string;
  trace_id?: string;
  span_id?: string;
  bundles?: Record<string, { revision?: string }>;
  path: string;
  input: unknown;
  result?: unknown;
  erased?: string[];
  masked?: string[];
  error?: { code: string; message: string };
  requested_by?: string;
  timestamp: string;
  metrics?: Record<string, number>;
}

export interface DecisionLogStatus {
  buffered: number;
  shipped: number;
  dropped: number;
  retrying: boolean;
  lastError?: string;
}

/** OPA's util.DefaultBackoff: base 100 ms, ×1.6 per retry up to the maximum, ±20 % jitter. */
export function backoffMs(retries: number, maxMs: number): number {
  let b = 100;
  for (let r = retries; b < maxMs && r > 0; r--) b *= 1.6;
  b = Math.min(b, maxMs);
  return Math.max(0, Math.round(b * (1 + 0.2 * (Math.random() * 2 - 1))));
}

function escapePointer(k: string): string {
  return k.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Masks strings in place like src/redaction, recording the pointer of every string a rule changed. */
function maskWithPaths(node: unknown, spec: RedactionSpec, trail: string, out: string[]): unknown {
  if (typeof node === 'string') {
    let s = node;
    for (const rule of spec.mask) {
      rule.pattern.lastIndex = 0;
      s = s.replace(rule.pattern, () => rule.replacement);
    }
    if (s !== node) out.push(trail);
    return s;
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = maskWithPaths(node[i], spec, `${trail}/${i}`, out);
    return node;
  }
  if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    for (const k of Object.keys(obj)) obj[k] = maskWithPaths(obj[k], spec, `${trail}/${escapePointer(k)}`, out);
  }
  return node;
}

/** The masked copy of an evaluation's input, with the pointers erased and masked. */
export function maskInput(
  input: Record<string, unknown>,
  decision: Decision | undefined,
  hash: (v: string) => string,
): { input: Record<string, unknown>; erased: string[]; masked: string[] } {
  const out: Record<string, unknown> = { ...input };
  const erased: string[] = [];
  const masked: string[] = [];
  const args = input.arguments;
  if (args !== undefined) {
    if (!decision) {
      // No decision, no word on what is sensitive: keep none of it.
      delete out.arguments;
      erased.push('/input/arguments');
    } else {
      // Deep copy: the pipeline still holds the original and redacts it in place later.
      const copy = structuredClone(args) as Record<string, unknown>;
      const spec = decision.redactArguments;
      const report = emptyReport();
      redact(copy, { drop: spec.drop, mask: [] }, report);
      for (const p of report.erased) erased.push(`/input/arguments${p}`);
      out.arguments = spec.mask.length > 0 ? maskWithPaths(copy, spec, '/input/arguments', masked) : copy;
    }
  }
  const subject = input.subject as { claims?: Record<string, unknown> } | undefined;
  if (subject?.claims && typeof subject.claims.jti === 'string') {
    out.subject = { ...subject, claims: { ...subject.claims, jti: hash(subject.claims.jti) } };
    masked.push('/input/subject/claims/jti');
  }
  return { input: out, erased, masked };
}

export class DecisionLogShipper implements DecisionLogger {
  private buffer: DecisionLogEvent[] = [];
  private readonly labels: Record<string, string>;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private uploading = false;
  private retries = 0;
  private retryAt = 0;
  private shipped = 0;
  private dropped = 0;
  private lastError: string | undefined;
  private closed = false;

  constructor(private readonly opts: DecisionLogOptions) {
    // As OPA's manager labels: configured labels plus id and version, which configuration cannot override.
    this.labels = Object.freeze({ ...opts.labels, id: randomUUID(), version: opts.version }) as Record<string, string>;
  }

  log(e: Parameters<DecisionLogger['log']>[0]): void {
    if (this.closed) return;
    const m = maskInput(e.input, e.decision, this.opts.hash);
    const ev: DecisionLogEvent = {
      labels: this.labels,
      decision_id: e.ref?.decisionId ?? randomUUID(),
      path: e.path,
      input: m.input,
      timestamp: new Date().toISOString(),
    };
    if (e.ref?.trace) {
      ev.trace_id = e.ref.trace.traceId;
      ev.span_id = e.ref.trace.spanId;
    }
    if (e.bundle) ev.bundles = { portcullis: { revision: e.bundle.revision } };
    if (e.result !== undefined) ev.result = e.result;
    if (m.erased.length > 0) ev.erased = m.erased;
    if (m.masked.length > 0) ev.masked = m.masked;
    if (e.error !== undefined) ev.error = { code: 'evaluation_error', message: e.error };
    if (e.ref?.remote) ev.requested_by = e.ref.remote;
    if (e.micros !== undefined && e.micros > 0) ev.metrics = { timer_rego_query_eval_ns: Math.round(e.micros * 1000) };
    this.buffer.push(ev);
    this.trim();
    this.schedule(this.buffer.length >= this.opts.maxBatch ? 0 : this.opts.maxDelayMs);
  }

  status(): DecisionLogStatus {
    return {
      buffered: this.buffer.length,
      shipped: this.shipped,
      dropped: this.dropped,
      retrying: this.retries > 0,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** As OPA's size buffer: when full, the oldest events go (and are counted). */
  private trim(): void {
    const over = this.buffer.length - this.opts.bufferMaxEvents;
    if (over <= 0) return;
    this.buffer.splice(0, over);
    const before = this.dropped;
    this.dropped += over;
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this.dropped / 1000)) {
      this.opts.log.error('decision log events dropped: the buffer is full (decisionLogs.bufferMaxEvents)', { dropped: this.dropped });
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    const at = Math.max(Date.now() + delayMs, this.retryAt);
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.uploadOnce();
    }, at - Date.now());
    this.timer.unref();
  }

  private async uploadOnce(): Promise<void> {
    if (this.uploading || this.buffer.length === 0) return;
    this.uploading = true;
    const batch = this.buffer.splice(0, this.opts.maxBatch);
    try {
      await this.post(batch);
      this.shipped += batch.length;
      if (this.retries > 0) this.opts.log.info('decision log upload recovered', { retries: this.retries });
      this.retries = 0;
      this.retryAt = 0;
      this.lastError = undefined;
    } catch (err) {
      // Requeued in front, in order: a retry sends the same events again.
      this.buffer.unshift(...batch);
      this.trim();
      this.retries++;
      this.lastError = (err as Error).message;
      const delay = backoffMs(this.retries, this.opts.maxRetryDelayMs);
      this.retryAt = Date.now() + delay;
      if (this.retries === 1 || this.retries % 10 === 0) this.opts.log.warn('decision log upload failed; retrying with backoff', { error: this.lastError, retries: this.retries, delayMs: delay });
    } finally {
      this.uploading = false;
    }
    if (this.buffer.length > 0) this.schedule(this.buffer.length >= this.opts.maxBatch ? 0 : this.opts.maxDelayMs);
  }

  private async post(batch: DecisionLogEvent[]): Promise<void> {
    const body = await gzip(Buffer.from(JSON.stringify(batch)));
    const res = await fetch(this.opts.url, {
      method: 'POST',
      headers: { ...this.opts.headers, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`decision log service answered HTTP ${res.status}`);
  }

  /** Flushes what is buffered, retrying until `deadlineMs` (OPA flushes on Stop with a deadline, too). */
  async close(deadlineMs = 5000): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.uploading) await new Promise((r) => setTimeout(r, 10));
    const deadline = Date.now() + deadlineMs;
    let retries = 0;
    while (this.buffer.length > 0 && Date.now() < deadline) {
      const batch = this.buffer.slice(0, this.opts.maxBatch);
      try {
        await this.post(batch);
        this.buffer.splice(0, batch.length);
        this.shipped += batch.length;
      } catch (err) {
        this.lastError = (err as Error).message;
        await new Promise((r) => setTimeout(r, Math.min(backoffMs(++retries, 1000), Math.max(0, deadline - Date.now()))));
      }
    }
    if (this.buffer.length > 0) this.opts.log.error('decision log events not delivered at shutdown', { lost: this.buffer.length, error: this.lastError });
  }
}

export function createDecisionLogShipper(opts: DecisionLogOptions): DecisionLogShipper {
  return new DecisionLogShipper(opts);
}
