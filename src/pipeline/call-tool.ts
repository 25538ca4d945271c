/**
 * tools/call, stage by stage in order: catalog → validation → policy → quota → approval → credentials →
 * redaction of arguments → upstream → redaction of the result. It runs inside the pipeline's frame (frame.ts),
 * which owns the audit record, the error → outcome mapping and the answer's accounting.
 *
 * Validation comes before policy: a reviewer is never asked to approve, and no Vault lease is taken, for
 * arguments the tool would reject; and it comes after visibility, so a hidden tool is not revealed by a schema
 * error.
 */
import { approvalProgress, type AwaitApproval } from '../approval/index.js';
import type { AuditRecord, AuditSink } from '../audit/index.js';
import { Catalog } from '../catalog/index.js';
import type { IssueCredentials } from '../credentials/index.js';
import {
  InvalidParamsError,
  PolicyDeniedError,
  PolicyUnavailableError,
  UnknownToolError,
  UpstreamRpcError,
} from '../errors/index.js';
import type { Authorizer } from '../policy/index.js';
import type { AdmitQuota } from '../quota/index.js';
import { compileScrubber, emptyReport, redact, scrubbingRelay, scrubValue, scrubThrown } from '../redaction/index.js';
import type { Logger } from '../telemetry/logger.js';
import { elapsedMs, type CallContext } from './call-context.js';
import type { FrameScope } from './frame.js';
import type { EnsureVariants } from './tool-variants.js';

export interface CallToolDeps {
  catalog: Catalog;
  authorizer: Authorizer;
  awaitApproval: AwaitApproval;
  issueCredentials: IssueCredentials;
  admitQuota: AdmitQuota;
  audit: AuditSink;
  log: Logger;
  ensureVariants: EnsureVariants;
}

export type CallTool = (ctx: CallContext, params: Record<string, unknown>, scope: FrameScope) => Promise<unknown>;

export function createCallTool(deps: CallToolDeps): CallTool {
  const { catalog, authorizer, awaitApproval, issueCredentials, admitQuota } = deps;

  return async function callTool(ctx, params, { rec, onAnswer }) {
    const name = params.name;
    rec.tool = typeof name === 'string' ? name.slice(0, 256) : undefined;
    // 3. catalog (with 4a below): which server, which tool.
    ctx.trace?.enter('catalog');
    if (typeof name !== 'string') throw new InvalidParamsError('tools/call: params.name must be a string', { field: 'name' });
    const args = params.arguments ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new InvalidParamsError('tools/call: params.arguments must be an object', { field: 'arguments' });
    }
    // 4a. visibility comes before the catalog answers: with no policy every name gets the same refusal, and
    // afterwards a hidden tool is answered exactly like a missing one (no existence oracle, checklist C21).
    await deps.ensureVariants(ctx);
    const capKey = ctx.session.capabilityKey;
    const vis = authorizer.visible(ctx.subject, catalog.list(ctx.serverId, capKey), ctx.facts, `${catalog.generation}:${capKey}`, ctx);
    rec.bundle = bundleRef(authorizer);
    if (!vis.ok) throw new PolicyUnavailableError(vis.reason, ctx.decisionId, vis.cause);
    const entry = catalog.resolve(ctx.serverId, name, capKey);
    if (!entry) throw new UnknownToolError(name);
    rec.server = entry.server.id;
    rec.tool = entry.tool.name;
    if (!vis.keys.has(entry.key)) {
      rec.reasons = ['tool not visible to subject'];
      throw new UnknownToolError(name);
    }
    // 7. validation: nothing schema-invalid is decided, approved, credentialed or sent upstream.
    ctx.trace?.enter('validation');
    catalog.validatorFor(entry)(args as Record<string, unknown>);

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
      onAnswer((answer) => ticket.settle(answer));
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
  };
}

function bundleRef(a: Authorizer): AuditRecord['bundle'] {
  const b = a.bundle;
  return b ? { revision: b.revision, generation: b.generation } : null;
}
