/**
 * The one audited, traced frame every decided request runs in. It builds the audit record once from the call
 * context, lets the handler fill in what it learns (server, tool, reasons, latencies), classifies any failure with
 * the one error → outcome table, settles the call's accounting once its answer is serialized, and writes the
 * record exactly once, in `finally`. Handlers return values; they never build records, map errors or serialize.
 */
import { approvalOfError } from '../approval/index.js';
import { AuditUnavailableError, type AuditRecord, type AuditSink } from '../audit/index.js';
import { GatewayError } from '../errors/index.js';
import { outcomeOf } from '../errors/outcome.js';
import type { Subject } from '../identity/index.js';
import type { Logger } from '../telemetry/logger.js';
import { auditSubject } from '../audit/index.js';
import { elapsedMs, type CallContext } from './call-context.js';

/** An answer a handler has already serialized (a cached tools/list): the frame passes it through as it is. */
export class Serialized {
  constructor(readonly text: string) {}
}

/** What a handler gets besides the context: the record to fill in, and a hook for the serialized answer. */
export interface FrameScope {
  readonly rec: AuditRecord;
  /** Called once with the answer's JSON text (quota accounting counts what the client receives). */
  onAnswer(settle: (answer: string) => void): void;
}

export type Work = (scope: FrameScope) => unknown;

export interface Frame {
  /** Runs `work` as `action` in the frame; resolves with the JSON text of the result, or rejects with the error. */
  run(ctx: CallContext, action: string, work: Work): Promise<string>;
  /** The record of a request refused before it had a context (authentication failures), in the same shape. */
  refusal(fields: { action: string; tool?: string; reason: string; endpoint: string; remote?: string; traceId?: string; spanId?: string; stage: string; subject?: Subject | null }): void;
}

export function createFrame(deps: { audit: AuditSink; log: Logger; bundle: () => AuditRecord['bundle'] }): Frame {
  const { audit, log } = deps;

  function newRecord(ctx: CallContext, action: string): AuditRecord {
    return {
      decision_id: ctx.decisionId,
      trace_id: ctx.trace?.traceId,
      span_id: ctx.trace?.spanId,
      action,
      outcome: 'error',
      reasons: [],
      subject: auditSubject(ctx.subject),
      session: ctx.facts.session,
      endpoint: ctx.facts.endpoint,
      protocol_version: ctx.facts.protocol_version,
      server: ctx.serverId ?? undefined,
      bundle: deps.bundle(),
      latency_ms: { total: 0 },
      remote: ctx.remote,
    };
  }

  async function run(ctx: CallContext, action: string, work: Work): Promise<string> {
    // Fail closed on the audit trail itself: what cannot be recorded does not run (and is not recorded either:
    // the trail cannot take it). Like OpenBao, which stops answering when no audit device can record.
    if (!audit.accepting()) throw new AuditUnavailableError();
    const rec = newRecord(ctx, action);
    let settle: ((answer: string) => void) | undefined;
    const scope: FrameScope = { rec, onAnswer: (fn) => (settle = fn) };
    try {
      const value = await work(scope);
      const text = value instanceof Serialized ? value.text : JSON.stringify(value ?? {});
      rec.outcome = 'allow';
      settle?.(text);
      return text;
    } catch (err) {
      ctx.trace?.fail(err);
      rec.outcome = outcomeOf(err, rec.upstream_error === true);
      rec.approval ??= approvalOfError(err);
      if (err instanceof GatewayError) {
        rec.error_code = err.code;
        rec.stage = err.stage;
        if (rec.reasons.length === 0 && Array.isArray(err.data?.reasons)) rec.reasons = err.data.reasons as string[];
        if (rec.reasons.length === 0 && rec.outcome === 'invalid') rec.reasons = [err.message];
        if (rec.outcome === 'invalid' && typeof err.data?.field === 'string') rec.field = err.data.field;
        if (err.cause) {
          const detail = String((err.cause as Error).message ?? err.cause);
          rec.error_detail = detail.slice(0, 500);
          log.warn('request failed', { decisionId: ctx.decisionId, action, stage: err.stage, error: detail });
        }
      } else {
        rec.stage = 'internal';
        log.error('request failed unexpectedly', { decisionId: ctx.decisionId, action, error: (err as Error)?.stack ?? String(err) });
      }
      // Nothing was answered but the error: an admitted call still settles (with no result bytes).
      settle?.('');
      throw err;
    } finally {
      rec.latency_ms.total = elapsedMs(ctx.started);
      ctx.trace?.enter('audit');
      audit.record(rec);
    }
  }

  function refusal(f: Parameters<Frame['refusal']>[0]): void {
    audit.record({
      decision_id: globalThis.crypto.randomUUID(),
      trace_id: f.traceId,
      span_id: f.spanId,
      action: f.action,
      outcome: 'deny',
      reasons: [f.reason],
      subject: f.subject ? auditSubject(f.subject) : null,
      endpoint: f.endpoint,
      latency_ms: { total: 0 },
      stage: f.stage,
      remote: f.remote,
      tool: f.tool,
    });
  }

  return { run, refusal };
}
