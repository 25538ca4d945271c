/**
 * tools/list: catalog → one policy evaluation over every tool on the endpoint (audited by the frame). The serialized answer is
 * kept with the cached visibility decision, so a repeated list costs a string copy, not a re-encode.
 */
import { Catalog } from '../catalog/index.js';
import { PolicyUnavailableError } from '../errors/index.js';
import type { Authorizer } from '../policy/index.js';
import type { CallContext } from './call-context.js';
import { Serialized, type FrameScope } from './frame.js';
import type { EnsureVariants } from './tool-variants.js';

/** Returns the JSON text of the ListToolsResult. */
export type ListTools = (ctx: CallContext, scope: FrameScope) => Promise<Serialized>;

/** The gateway can run any tool as a task (it owns the waiting), so with tasks on no tool forbids them. */
function withTaskSupport(tool: Record<string, unknown>): Record<string, unknown> {
  const execution = (tool.execution ?? {}) as Record<string, unknown>;
  if (execution.taskSupport === 'required' || execution.taskSupport === 'optional') return tool;
  return { ...tool, execution: { ...execution, taskSupport: 'optional' } };
}

export function createListTools(deps: { catalog: Catalog; authorizer: Authorizer; ensureVariants: EnsureVariants; tasks?: boolean }): ListTools {
  const { catalog, authorizer } = deps;

  return async function listTools(ctx, { rec }) {
    ctx.trace?.enter('catalog');
    await deps.ensureVariants(ctx);
    const capKey = ctx.session.capabilityKey;
    const entries = catalog.list(ctx.serverId, capKey);
    ctx.trace?.enter('policy');
    const vis = authorizer.visible(ctx.subject, entries, ctx.facts, `${catalog.generation}:${capKey}`, ctx);
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
    rec.visible_tools = count;
    return new Serialized(text);
  };
}
