/**
 * tools/list: catalog → one policy evaluation over every tool on the endpoint → audit. The serialized answer is
 * kept with the cached visibility decision, so a repeated list costs a string copy, not a re-encode.
 */
import type { AuditRecord, AuditSink } from '../audit/index.js';
import { Catalog } from '../catalog/index.js';
import { PolicyUnavailableError } from '../errors/index.js';
import type { Authorizer } from '../policy/index.js';
import { elapsedMs, type CallContext } from './call-context.js';
import { auditSubject } from './audit-subject.js';

/** Returns the JSON text of the ListToolsResult. */
export type ListTools = (ctx: CallContext) => string;

/** The gateway can run any tool as a task (it owns the waiting), so with tasks on no tool forbids them. */
function withTaskSupport(tool: Record<string, unknown>): Record<string, unknown> {
  const execution = (tool.execution ?? {}) as Record<string, unknown>;
  if (execution.taskSupport === 'required' || execution.taskSupport === 'optional') return tool;
  return { ...tool, execution: { ...execution, taskSupport: 'optional' } };
}

export function createListTools(deps: { catalog: Catalog; authorizer: Authorizer; audit: AuditSink; tasks?: boolean }): ListTools {
  const { catalog, authorizer, audit } = deps;

  return function listTools(ctx) {
    const rec: AuditRecord = {
      decision_id: ctx.decisionId,
      trace_id: ctx.trace?.traceId,
      span_id: ctx.trace?.spanId,
      action: 'tools/list',
      outcome: 'error',
      reasons: [],
      subject: auditSubject(ctx.subject),
      session: ctx.session.hash,
      endpoint: ctx.facts.endpoint,
      server: ctx.serverId ?? undefined,
      bundle: null,
      latency_ms: { total: 0 },
      remote: ctx.remote,
    };
    try {
      ctx.trace?.enter('catalog');
      const entries = catalog.list(ctx.serverId);
      ctx.trace?.enter('policy');
      const vis = authorizer.visible(ctx.subject, entries, ctx.facts, catalog.generation, ctx);
      const b = authorizer.bundle;
      rec.bundle = b ? { revision: b.revision, generation: b.generation } : null;
      rec.latency_ms.policy = vis.micros / 1000;
      if (!vis.ok) throw new PolicyUnavailableError(vis.reason, ctx.decisionId, vis.cause);
      let text = vis.memo.get('list') as string | undefined;
      let count = vis.memo.get('count') as number | undefined;
      if (text === undefined) {
        const tools = [];
        for (const e of entries) {
          if (!vis.keys.has(e.key)) continue;
          const tool = ctx.serverId === null ? { ...e.tool, name: Catalog.exposedName(e, null) } : e.tool;
          tools.push(deps.tasks ? withTaskSupport(tool) : tool);
        }
        text = JSON.stringify({ tools });
        count = tools.length;
        vis.memo.set('list', text);
        vis.memo.set('count', count);
      }
      rec.outcome = 'allow';
      rec.visible_tools = count;
      return text;
    } catch (err) {
      ctx.trace?.fail(err);
      rec.reasons = [(err as Error).message];
      rec.stage = 'policy';
      throw err;
    } finally {
      rec.latency_ms.total = elapsedMs(ctx.started);
      ctx.trace?.enter('audit');
      audit.record(rec);
    }
  };
}
