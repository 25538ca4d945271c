/**
 * tools/call, stage by stage in order: catalog → policy → approval → credentials → validation → redaction of
 * arguments → upstream → redaction of the result; the audit record is written in `finally`, exactly once.
 */
import { approvalOfError, approvalProgress, type AwaitApproval } from '../approval/index.js';
import { AuditUnavailableError, type AuditOutcome, type AuditRecord, type AuditSink } from '../audit/index.js';
import { Catalog } from '../catalog/index.js';
import type { IssueCredentials } from '../credentials/index.js';
import {
  GatewayError,
  InvalidParamsError,
  PolicyDeniedError,
  PolicyUnavailableError,
  UnknownToolError,
  UpstreamRpcError,
} from '../errors/index.js';
import type { Authorizer } from '../policy/index.js';
import { QuotaExceededError, type AdmitQuota } from '../quota/index.js';
import { compileScrubber, emptyReport, redact, scrubbingRelay, scrubValue, scrubThrown } from '../redaction/index.js';
import type { Logger } from '../telemetry/logger.js';
import { elapsedMs, type CallContext } from './call-context.js';
import { auditSubject } from './audit-subject.js';

export interface CallToolDeps {
  catalog: Catalog;
  authorizer: Authorizer;
  awaitApproval: AwaitApproval;
  issueCredentials: IssueCredentials;
  admitQuota: AdmitQuota;
  audit: AuditSink;
  log: Logger;
}

export type CallTool = (ctx: CallContext, params: Record<string, unknown>) => Promise<unknown>;

export function createCallTool(deps: CallToolDeps): CallTool {
  const { catalog, authorizer, awaitApproval, issueCredentials, admitQuota, audit, log } = deps;

  return async function callTool(ctx, params) {
    // A call the audit trail cannot take (sink down, spool full, audit.onFull fail-closed) does not run at all.
    if (!audit.accepting()) throw new AuditUnavailableError();
    const name = params.name;
    const rec: AuditRecord = {
      decision_id: ctx.decisionId,
      trace_id: ctx.trace?.traceId,
      span_id: ctx.trace?.spanId,
      action: 'tools/call',
      outcome: 'error',
      reasons: [],
      subject: auditSubject(ctx.subject),
      session: ctx.session.hash,
      endpoint: ctx.facts.endpoint,
      tool: typeof name === 'string' ? name.slice(0, 256) : undefined,
      bundle: null,
      latency_ms: { total: 0 },
      remote: ctx.remote,
    };
    try {
      // 3. catalog (with 4a below): which server, which tool.
      ctx.trace?.enter('catalog');
      if (typeof name !== 'string') throw new InvalidParamsError('tools/call: params.name must be a string', { field: 'name' });
      const args = params.arguments ?? {};
      if (typeof args !== 'object' || args === null || Array.isArray(args)) {
        throw new InvalidParamsError('tools/call: params.arguments must be an object', { field: 'arguments' });
      }
      // 4a. visibility comes before the catalog answers: with no policy every name gets the same refusal, and
      // afterwards a hidden tool is answered exactly like a missing one (no existence oracle, checklist C21).
      const vis = authorizer.visible(ctx.subject, catalog.list(ctx.serverId), ctx.facts, catalog.generation, ctx);
      rec.bundle = bundleRef(authorizer);
      if (!vis.ok) throw new PolicyUnavailableError(vis.reason, ctx.decisionId, vis.cause);
      const entry = catalog.resolve(ctx.serverId, name);
      if (!entry) throw new UnknownToolError(name);
      rec.server = entry.server.id;
      rec.tool = entry.tool.name;
      if (!vis.keys.has(entry.key)) {
        rec.reasons = ['tool not visible to subject'];
        throw new UnknownToolError(name);
      }
      // 4b. the decision.
      ctx.trace?.enter('policy');
      const d = authorizer.decide(ctx.subject, entry, args as Record<string, unknown>, ctx.facts, ctx);
      rec.latency_ms.policy = d.micros / 1000;
      if (!d.ok) throw new PolicyUnavailableError(d.reason, ctx.decisionId, d.cause);
      const decision = d.decision;
      rec.reasons = decision.reasons;
      if (decision.outcome === 'deny') throw new PolicyDeniedError(decision.reasons, ctx.decisionId);

      // 4c. quota: the bucket the decision names must have room, checked before a human is asked to approve.
      ctx.trace?.enter('quota');
      const ticket = await admitQuota(ctx, entry, decision);
      if (ticket) {
        if (ticket.audit) rec.quota = ticket.audit;
        ctx.onAnswer = (answer) => ticket.settle(answer);
      }

      // 5. approval: a call that needs a human waits for one, or does not run.
      if (decision.outcome === 'needs_approval') {
        ctx.trace?.enter('approval');
        rec.approval = await awaitApproval({
          decisionId: ctx.decisionId,
          decision,
          subject: ctx.subject,
          serverId: entry.server.id,
          tool: entry.tool.name,
          arguments: args as Record<string, unknown>,
          bundleRevision: rec.bundle?.revision,
          signal: ctx.signal,
          onProgress: approvalProgress(ctx.relay, params),
        });
      }

      // 6. credentials: what this call carries downstream.
      ctx.trace?.enter('credentials');
      const injection = await issueCredentials(entry, decision);
      if (injection.audit) rec.credential = injection.audit;

      // 7. validation: nothing schema-invalid reaches the upstream.
      ctx.trace?.enter('validation');
      catalog.validatorFor(entry)(args as Record<string, unknown>);

      // 9a. redaction of arguments, before they leave the gateway (and before they are audited).
      ctx.trace?.enter('redaction');
      const report = emptyReport();
      const outArgs = redact(args as Record<string, unknown>, decision.redactArguments, report);
      rec.arguments = outArgs;

      // 8. upstream, under the upstream's own tool name. An injected credential the upstream echoes is scrubbed
      // from everything of this call that goes back to the client: what it relays while the call runs (progress,
      // log messages, sampling), its error, an error quoting its HTTP answer, and its result (checklist C23).
      ctx.trace?.enter('upstream', { 'portcullis.server.id': entry.server.id, 'gen_ai.tool.name': entry.tool.name });
      const scrubber = compileScrubber(injection.secrets);
      const upStart = performance.now();
      let answer;
      try {
        answer = await ctx.upstreams.request(
          entry.server.id,
          'tools/call',
          { ...params, name: entry.tool.name, arguments: outArgs },
          {
            signal: ctx.signal,
            relay: scrubber ? scrubbingRelay(ctx.relay, scrubber, report) : ctx.relay,
            headers: injection.headers,
            secrets: injection.secrets,
            trace: ctx.trace?.carrier(),
          },
        );
      } catch (err) {
        if (!scrubber) throw err;
        scrubThrown(err, scrubber, report);
        if (report.masked.credential) rec.masked = { ...report.masked };
        throw err;
      }
      rec.latency_ms.upstream = elapsedMs(upStart);
      if (!answer.ok) {
        rec.upstream_error = true;
        const error = scrubber ? scrubValue(answer.error, scrubber, report) : answer.error;
        if (report.masked.credential) rec.masked = { ...report.masked };
        throw new UpstreamRpcError(entry.server.id, error);
      }

      // 9b. redaction of the result, before the client sees it: first any injected credential echoed back,
      // then what policy says.
      ctx.trace?.enter('redaction');
      const result = redact(scrubber ? scrubValue(answer.result, scrubber, report) : answer.result, decision.redactResult, report);
      if (report.erased.length > 0) rec.erased = report.erased;
      if (Object.keys(report.masked).length > 0) rec.masked = report.masked;
      rec.outcome = 'allow';
      return result;
    } catch (err) {
      ctx.trace?.fail(err);
      rec.outcome = outcomeOf(err, rec);
      rec.approval ??= approvalOfError(err);
      if (err instanceof GatewayError) {
        rec.error_code = err.code;
        rec.stage = err.stage;
        if (rec.reasons.length === 0 && err.data?.reasons) rec.reasons = err.data.reasons as string[];
        if (err.cause) {
          const detail = String((err.cause as Error).message ?? err.cause);
          rec.error_detail = detail.slice(0, 500);
          log.warn('call failed', { decisionId: ctx.decisionId, stage: err.stage, error: detail });
        }
      } else {
        log.error('call failed unexpectedly', { decisionId: ctx.decisionId, error: (err as Error).stack ?? String(err) });
      }
      throw err;
    } finally {
      rec.latency_ms.total = elapsedMs(ctx.started);
      ctx.trace?.enter('audit');
      audit.record(rec);
    }
  };
}

function bundleRef(a: Authorizer): AuditRecord['bundle'] {
  const b = a.bundle;
  return b ? { revision: b.revision, generation: b.generation } : null;
}

function outcomeOf(err: unknown, rec: AuditRecord): AuditOutcome {
  if (!(err instanceof GatewayError)) return 'error';
  switch (err.stage) {
    case 'approval':
      return 'approval_required';
    case 'catalog':
    case 'validation':
      return 'deny';
    case 'policy':
      return err instanceof PolicyDeniedError ? 'deny' : 'error';
    case 'quota':
      // An exhausted bucket is a refusal; a store that cannot be asked is an error (fail closed).
      return err instanceof QuotaExceededError ? 'deny' : 'error';
    case 'upstream':
      // The policy allowed it; the failure is the upstream's, which the record says in upstream_error/error_code.
      return rec.upstream_error ? 'allow' : 'error';
    default:
      return 'error';
  }
}
