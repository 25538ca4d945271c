/**
 * Prompts, resources, completion and logging: relayed to the client's upstream sessions with the same pipeline
 * conventions as tools. Lists are one policy evaluation (portcullis/visible); prompts/get, resources/read and
 * resources/subscribe are decided (portcullis/decision), redacted and audited like tools/call.
 */
import type { AuditRecord } from '../audit/index.js';
import { ResourceOwners } from './resource-owners.js';
import { Catalog, NAMESPACE_SEPARATOR } from '../catalog/index.js';
import { GatewayError, InvalidParamsError, PolicyDeniedError, PolicyUnavailableError, UpstreamRpcError } from '../errors/index.js';
import { INVALID_PARAMS, RESOURCE_NOT_FOUND } from '../errors/codes.js';
import type { Authorizer, ListKind } from '../policy/index.js';
import { emptyReport, redact } from '../redaction/index.js';
import { approvalProgress, type AwaitApproval } from '../approval/index.js';
import { elapsedMs, type CallContext } from './call-context.js';

export interface RelayDeps {
  catalog: Catalog;
  authorizer: Authorizer;
  awaitApproval: AwaitApproval;
}

// MCP: resources/read of an unknown URI is -32002 "Resource not found". Invisible ones get the same answer.

class NotFoundError extends GatewayError {
  constructor(kind: 'prompt' | 'resource', name: string) {
    super(kind === 'prompt' ? INVALID_PARAMS : RESOURCE_NOT_FOUND, 'catalog', kind === 'prompt' ? `Unknown prompt: ${name}` : `Resource not found: ${name}`);
  }
}

interface ListSpec {
  method: 'prompts/list' | 'resources/list' | 'resources/templates/list';
  field: 'prompts' | 'resources' | 'resourceTemplates';
  kind: ListKind;
  /** The item's identifying property: a prompt's name, a resource's uri, a template's uriTemplate. */
  id: 'name' | 'uri' | 'uriTemplate';
  capability: 'prompts' | 'resources';
}

const LISTS: Record<string, ListSpec> = {
  'prompts/list': { method: 'prompts/list', field: 'prompts', kind: 'prompts', id: 'name', capability: 'prompts' },
  'resources/list': { method: 'resources/list', field: 'resources', kind: 'resources', id: 'uri', capability: 'resources' },
  'resources/templates/list': { method: 'resources/templates/list', field: 'resourceTemplates', kind: 'resource_templates', id: 'uriTemplate', capability: 'resources' },
};

export type RelayMethod = (ctx: CallContext, method: string, params: Record<string, unknown>) => Promise<unknown>;

export function createRelayMethods(deps: RelayDeps) {
  const { catalog, authorizer } = deps;
  /** Which server a resource URI belongs to, learnt from lists: the pipeline's own state, bounded. */
  const owners = new ResourceOwners();

  /** Servers an endpoint reaches that offer a capability. */
  function serversFor(ctx: CallContext, capability: string): string[] {
    const ids = ctx.serverId === null ? [...catalog.servers.keys()] : [ctx.serverId];
    return ids.filter((id) => {
      const caps = catalog.servers.get(id)?.upstream.capabilities ?? {};
      return caps[capability] !== undefined;
    });
  }

  function upstreamAnswer(serverId: string, a: { ok: true; result: unknown } | { ok: false; error: { code: number; message: string; data?: unknown } }, rec: AuditRecord): Record<string, unknown> {
    if (!a.ok) {
      rec.upstream_error = true;
      throw new UpstreamRpcError(serverId, a.error);
    }
    const r = a.result;
    return (r !== null && typeof r === 'object' && !Array.isArray(r) ? r : {}) as Record<string, unknown>;
  }

  async function list(ctx: CallContext, spec: ListSpec, params: Record<string, unknown>, rec: AuditRecord): Promise<unknown> {
    {
      ctx.trace?.enter('upstream');
      const servers = serversFor(ctx, spec.capability);
      const items: Array<{ serverId: string; item: Record<string, unknown>; key: string }> = [];
      let nextCursor: string | undefined;
      for (const sid of servers) {
        // A per-server route passes the client's cursor through; the aggregate reads every page of every server.
        let cursor = ctx.serverId === null ? undefined : (params.cursor as string | undefined);
        for (let page = 0; page < 100; page++) {
          const a = await ctx.upstreams.request(sid, spec.method, cursor ? { cursor } : {}, { signal: ctx.signal, relay: ctx.relay, trace: ctx.trace?.carrier() });
          const r = upstreamAnswer(sid, a, rec);
          // A list that is not an array is that upstream's fault: it contributes nothing, the others still list.
          const listed = Array.isArray(r[spec.field]) ? (r[spec.field] as Array<Record<string, unknown>>) : [];
          for (const item of listed) {
            if (item && typeof item[spec.id] === 'string') items.push({ serverId: sid, item, key: `${sid}${NAMESPACE_SEPARATOR}${item[spec.id] as string}` });
          }
          cursor = typeof r.nextCursor === 'string' ? r.nextCursor : undefined;
          if (ctx.serverId !== null) {
            nextCursor = cursor;
            break;
          }
          if (!cursor) break;
        }
      }
      ctx.trace?.enter('policy');
      const vis = authorizer.visibleItems(
        ctx.subject,
        spec.method,
        spec.kind,
        items.map((i) => ({ ...i.item, key: i.key, server: catalog.servers.get(i.serverId)!.view })),
        ctx.facts,
        ctx,
      );
      rec.latency_ms.policy = vis.micros / 1000;
      if (!vis.ok) throw new PolicyUnavailableError(vis.reason, ctx.decisionId, vis.cause);
      const out: Array<Record<string, unknown>> = [];
      for (const i of items) {
        if (!vis.keys.has(i.key)) continue;
        if (spec.id === 'uri') owners.remember(i.item.uri as string, i.serverId);
        if (spec.id === 'uriTemplate') owners.rememberTemplate(i.item.uriTemplate as string, i.serverId);
        out.push(ctx.serverId === null && spec.id === 'name' ? { ...i.item, name: i.key } : i.item);
      }
      const result: Record<string, unknown> = { [spec.field]: out };
      if (nextCursor) result.nextCursor = nextCursor;
      return result;
    }
  }

  async function learnTemplates(ctx: CallContext, serverIds: string[]): Promise<void> {
    await Promise.all(
      serverIds.map(async (sid) => {
        const a = await ctx.upstreams.request(sid, 'resources/templates/list', {}, { signal: ctx.signal }).catch(() => undefined);
        const list = a?.ok ? ((a.result as { resourceTemplates?: Array<{ uriTemplate?: unknown }> } | undefined)?.resourceTemplates ?? []) : [];
        for (const t of list) if (typeof t?.uriTemplate === 'string') owners.rememberTemplate(t.uriTemplate, sid);
      }),
    );
  }

  /** Which server a prompt name or resource URI on this endpoint belongs to, and its upstream name. */
  async function locate(ctx: CallContext, kind: 'prompt' | 'resource', name: string): Promise<{ serverId: string; upstreamName: string }> {
    if (ctx.serverId !== null) return { serverId: ctx.serverId, upstreamName: name };
    if (kind === 'prompt') {
      const i = name.indexOf(NAMESPACE_SEPARATOR);
      const sid = i > 0 ? name.slice(0, i) : '';
      if (!catalog.servers.has(sid)) throw new NotFoundError('prompt', name);
      return { serverId: sid, upstreamName: name.slice(i + NAMESPACE_SEPARATOR.length) };
    }
    const candidates = serversFor(ctx, 'resources');
    // A URI a server listed, or one its resource templates expand to (demo://resource/dynamic/text/{id}), goes to
    // that server; failing both, to the only server offering resources, if there is one.
    let owner = owners.ownerOf(name, candidates);
    if (!owner && candidates.length > 1) {
      // Not listed here yet (a client may read a URI it built from a template it learnt elsewhere): learn the
      // candidates' templates once, then match again.
      await learnTemplates(ctx, candidates);
      owner = owners.ownerOf(name, candidates);
    }
    if (owner) return { serverId: owner, upstreamName: name };
    if (candidates.length === 1) return { serverId: candidates[0]!, upstreamName: name };
    throw new NotFoundError('resource', name);
  }

  /** prompts/get, resources/read, resources/subscribe|unsubscribe: visible → decide → (approval) → upstream → redact. */
  async function decided(ctx: CallContext, method: string, params: Record<string, unknown>, rec: AuditRecord): Promise<unknown> {
    const kind = method === 'prompts/get' ? 'prompt' : 'resource';
    const name = kind === 'prompt' ? params.name : params.uri;
    {
      if (typeof name !== 'string') throw new InvalidParamsError(`${method}: params.${kind === 'prompt' ? 'name' : 'uri'} must be a string`);
      rec.target = name.slice(0, 512);
      ctx.trace?.enter('catalog');
      const { serverId, upstreamName } = await locate(ctx, kind, name);
      rec.server = serverId;
      const server = catalog.servers.get(serverId)!.view;
      const key = `${serverId}${NAMESPACE_SEPARATOR}${upstreamName}`;
      const item = kind === 'prompt' ? { key, name: upstreamName, server } : { key, uri: upstreamName, server };
      const listAction = kind === 'prompt' ? 'prompts/list' : 'resources/list';
      const vis = authorizer.visibleItems(ctx.subject, listAction, kind === 'prompt' ? 'prompts' : 'resources', [item], ctx.facts, ctx);
      if (!vis.ok) throw new PolicyUnavailableError(vis.reason, ctx.decisionId, vis.cause);
      if (!vis.keys.has(key)) throw new NotFoundError(kind, name);
      // Only prompts take arguments; whatever else a client sends under resources/* is not policy's input.
      const args = kind === 'prompt' ? ((params.arguments ?? {}) as Record<string, unknown>) : {};
      ctx.trace?.enter('policy');
      const d = authorizer.decideTarget(ctx.subject, { action: method, server, kind, item, arguments: args }, ctx.facts, ctx);
      rec.latency_ms.policy = d.micros / 1000;
      if (!d.ok) throw new PolicyUnavailableError(d.reason, ctx.decisionId, d.cause);
      rec.reasons = d.decision.reasons;
      if (d.decision.outcome === 'deny') throw new PolicyDeniedError(d.decision.reasons, ctx.decisionId);
      if (d.decision.outcome === 'needs_approval') {
        ctx.trace?.enter('approval');
        rec.approval = await deps.awaitApproval({
          decisionId: ctx.decisionId,
          decision: d.decision,
          subject: ctx.subject,
          serverId,
          tool: `${kind}:${upstreamName}`,
          arguments: args,
          bundleRevision: rec.bundle?.revision,
          signal: ctx.signal,
          onProgress: approvalProgress(ctx.relay, params),
        });
      }
      ctx.trace?.enter('redaction');
      const report = emptyReport();
      const outParams: Record<string, unknown> = { ...params, [kind === 'prompt' ? 'name' : 'uri']: upstreamName };
      if (kind === 'prompt') outParams.arguments = redact(args, d.decision.redactArguments, report);
      ctx.trace?.enter('upstream', { 'portcullis.server.id': serverId });
      const upStart = performance.now();
      const a = await ctx.upstreams.request(serverId, method, outParams, { signal: ctx.signal, relay: ctx.relay, trace: ctx.trace?.carrier() });
      rec.latency_ms.upstream = elapsedMs(upStart);
      ctx.trace?.enter('redaction');
      const result = redact(upstreamAnswer(serverId, a, rec), d.decision.redactResult, report);
      if (report.erased.length > 0) rec.erased = report.erased;
      if (Object.keys(report.masked).length > 0) rec.masked = report.masked;
      return result;
    }
  }

  /** completion/complete: routed by its ref; a ref to something the caller may not see is unknown. */
  async function complete(ctx: CallContext, params: Record<string, unknown>, rec: AuditRecord): Promise<unknown> {
    const ref = (params.ref ?? {}) as Record<string, unknown>;
    const isPrompt = ref.type === 'ref/prompt';
    const name = isPrompt ? ref.name : ref.uri;
    {
      if (typeof name !== 'string') throw new InvalidParamsError('completion/complete: params.ref must name a prompt or a resource');
      rec.target = name.slice(0, 512);
      const { serverId, upstreamName } = await locate(ctx, isPrompt ? 'prompt' : 'resource', name);
      const server = catalog.servers.get(serverId)!.view;
      const key = `${serverId}${NAMESPACE_SEPARATOR}${upstreamName}`;
      const item = isPrompt ? { key, name: upstreamName, server } : { key, uriTemplate: upstreamName, uri: upstreamName, server };
      const vis = authorizer.visibleItems(ctx.subject, isPrompt ? 'prompts/list' : 'resources/templates/list', isPrompt ? 'prompts' : 'resource_templates', [item], ctx.facts, ctx);
      if (!vis.ok) throw new PolicyUnavailableError(vis.reason, ctx.decisionId, vis.cause);
      if (!vis.keys.has(key)) throw new NotFoundError(isPrompt ? 'prompt' : 'resource', name);
      const outRef = isPrompt ? { ...ref, name: upstreamName } : ref;
      rec.server = serverId;
      const a = await ctx.upstreams.request(serverId, 'completion/complete', { ...params, ref: outRef }, { signal: ctx.signal, relay: ctx.relay });
      return upstreamAnswer(serverId, a, rec);
    }
  }

  /** logging/setLevel: applies to every upstream session this endpoint reaches. */
  async function setLevel(ctx: CallContext, params: Record<string, unknown>): Promise<unknown> {
    for (const sid of serversFor(ctx, 'logging')) {
      const a = await ctx.upstreams.request(sid, 'logging/setLevel', params, { signal: ctx.signal, relay: ctx.relay });
      if (!a.ok && ctx.serverId !== null) throw new UpstreamRpcError(sid, a.error);
    }
    return {};
  }

  return { list: (ctx: CallContext, method: string, params: Record<string, unknown>, rec: AuditRecord) => list(ctx, LISTS[method]!, params, rec), decided, complete, setLevel };
}

export type RelayMethods = ReturnType<typeof createRelayMethods>;

/** The list methods relayed with one visibility evaluation. */
export const LIST_METHODS = new Set(Object.keys(LISTS));
