/**
 * The MCP 2026-07-28 transport: stateless requests on the same endpoints as the 2025 sessions (/mcp and
 * /mcp/<serverId>). A second thin adapter over the pipeline's method table: it checks the header/body binding,
 * builds the call context from the request's own `_meta` (version, client capabilities), dispatches, and adds
 * what the revision requires of every result (resultType, serverInfo, cache hints on lists and reads).
 *
 * Upstreams still speak 2025 (sessions): the gateway holds an upstream session for each (principal, endpoint,
 * declared capabilities), the correlation key SEP-2567 asks bridges to use, never anything the client chose.
 * Those bridge sessions live in the ordinary session store, so idle reaping and per-principal caps apply.
 */
import type { Request, Response } from 'express';
import { GatewayError, MethodNotFoundError, toJsonRpcError } from '../errors/index.js';
import { CLIENT_UNREACHABLE, HEADER_MISMATCH, INVALID_PARAMS, RESOURCE_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION } from '../errors/codes.js';
import type { Subject } from '../identity/index.js';
import { newCallContext } from '../pipeline/call-context.js';
import type { Dispatch } from '../pipeline/methods.js';
import type { JsonRpcId, JsonRpcRequest } from '../protocol/json-rpc.js';
import { LATEST_PROTOCOL_VERSION, META_CLIENT_INFO, META_SERVER_INFO, MODERN_PROTOCOL_VERSIONS, supportedVersions } from '../protocol/mcp.js';
import type { Logger } from '../telemetry/logger.js';
import type { RequestTrace } from '../telemetry/tracing.js';
import { ClientUpstreams, type Relay, type Upstream } from '../upstream/index.js';
import { RequestStream, sessionRelay } from './client-link.js';
import { checkHeaderBinding } from './header-binding.js';
import type { Session, SessionStore } from './sessions.js';

/** Methods of the 2025 era the 2026-07-28 revision removed: a modern client calling one gets -32601. */
const REMOVED = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list']);

/** Results that carry cache hints (SEP-2549), and whether they depend on who asks. */
const CACHEABLE: Record<string, 'private' | 'public'> = {
  'tools/list': 'private',
  'prompts/list': 'private',
  'resources/list': 'private',
  'resources/templates/list': 'private',
  'resources/read': 'private',
  'server/discover': 'public',
};

export interface StatelessDeps {
  sessions: SessionStore;
  dispatch: Dispatch;
  upstream: (serverId: string) => Upstream | undefined;
  serverInfo: { name: string; version: string };
  log: Logger;
  /** Freshness the gateway can promise for a filtered list: its own policy list cache (policy.listCacheSeconds). */
  listTtlMs: number;
  inflight: { count: number };
}

export function createStatelessTransport(deps: StatelessDeps) {
  /** (principal, endpoint, capability key) → the id of the bridge session holding upstream sessions for it. */
  const bridges = new Map<string, string>();

  function bridgeFor(subject: Subject, serverId: string | null, clientInfo: unknown): Session {
    // Keyed by principal and endpoint. The capabilities told to the upstream are none: until server-to-client
    // requests are translated into input_required results, declaring sampling or elicitation upstream would
    // invite requests the client cannot be asked (and would list tools it cannot use).
    const key = `${subject.principal}\u0000${serverId ?? ''}`;
    const existing = bridges.get(key);
    const live = existing === undefined ? undefined : deps.sessions.get(existing);
    if (live) {
      live.lastSeen = Date.now();
      return live;
    }
    // Upstreams are 2025-era: each is initialized with the client's own capabilities, at the newest 2025 revision.
    const initParams = { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: isObject(clientInfo) ? clientInfo : { name: 'portcullis-bridge', version: '1' } };
    const s = deps.sessions.create(subject.principal, serverId, MODERN_PROTOCOL_VERSIONS[0]!, initParams);
    s.upstreams = new ClientUpstreams(initParams, deps.upstream, sessionRelay(s));
    bridges.set(key, s.id);
    if (bridges.size > 4 * deps.sessions.max) for (const [k, id] of bridges) if (!deps.sessions.get(id)) bridges.delete(k);
    return s;
  }

  function send(res: Response, status: number, id: JsonRpcId | null, body: { result?: string; error?: unknown }): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    res.end(body.result !== undefined ? `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${body.result}}` : JSON.stringify({ jsonrpc: '2.0', id, error: body.error }));
  }

  /**
   * One stateless request: `identify` authenticates it (every request on its own, no session stands in), then the
   * method table serves it.
   */
  async function post(req: Request, res: Response, serverId: string | null, msg: JsonRpcRequest, subject: Subject, trace: RequestTrace | undefined): Promise<void> {
    const version = req.headers['mcp-protocol-version'] as string;
    const params = (msg.params ?? {}) as Record<string, unknown>;
    if (!MODERN_PROTOCOL_VERSIONS.includes(version)) {
      return send(res, 400, msg.id, { error: { code: UNSUPPORTED_PROTOCOL_VERSION, message: `Unsupported protocol version: ${version.slice(0, 40)}`, data: { supported: supportedVersions(), requested: version.slice(0, 40) } } });
    }
    const mismatch = checkHeaderBinding(req.headers, msg.method, params);
    if (mismatch) return send(res, 400, msg.id, { error: { code: HEADER_MISMATCH, message: mismatch } });
    if (REMOVED.has(msg.method)) return send(res, 404, msg.id, { error: toJsonRpcError(new MethodNotFoundError(msg.method)) });

    const meta = (params._meta ?? {}) as Record<string, unknown>;
    const bridge = bridgeFor(subject, serverId, meta[META_CLIENT_INFO]);
    const ac = new AbortController();
    // On Streamable HTTP 2026-07-28, closing the response stream is the cancellation.
    const onClose = () => {
      if (!res.writableFinished) ac.abort();
    };
    res.on('close', onClose);
    const stream = new RequestStream(res, bridge);
    deps.inflight.count++;
    bridge.inflight.set(`stateless-${String(msg.id)}-${Math.random()}`, ac);
    const ctx = newCallContext({
      subject,
      session: { hash: null, protocolVersion: version, capabilityKey: bridge.capabilityKey },
      serverId,
      signal: ac.signal,
      remote: req.socket.remoteAddress,
      upstreams: bridge.upstreams!,
      relay: modernRelay(stream),
      trace,
    });
    let out: string;
    try {
      const text = await deps.dispatch(ctx, msg.method, params);
      out = `{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${decorate(text, msg.method)}}`;
    } catch (err) {
      trace?.fail(err);
      if (!(err instanceof GatewayError)) deps.log.error('request failed', { method: msg.method, error: (err as Error).stack ?? String(err) });
      const e = toJsonRpcError(err);
      // 2026-07-28 moved "resource not found" to Invalid Params.
      if (e.code === RESOURCE_NOT_FOUND) e.code = INVALID_PARAMS;
      if (e.code === -32601) {
        res.off('close', onClose);
        deps.inflight.count--;
        return send(res, 404, msg.id, { error: e });
      }
      out = JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: e });
    } finally {
      for (const [k, v] of bridge.inflight) if (v === ac) bridge.inflight.delete(k);
      res.off('close', onClose);
    }
    deps.inflight.count--;
    stream.finish(out);
  }

  /** What every 2026-07-28 result carries: resultType, the server's identity, and cache hints where they apply. */
  function decorate(text: string, method: string): string {
    const scope = CACHEABLE[method];
    const ttl = method === 'resources/read' ? 0 : deps.listTtlMs;
    const extra = `"resultType":"complete"${scope ? `,"ttlMs":${ttl},"cacheScope":"${scope}"` : ''}`;
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const meta = isObject(parsed._meta) ? (parsed._meta as Record<string, unknown>) : {};
    // Hints and type go last so an upstream's own values cannot widen the scope the gateway decided.
    const { resultType: _r, ttlMs: upstreamTtl, cacheScope: _c, ...rest } = parsed;
    const finalTtl = typeof upstreamTtl === 'number' && upstreamTtl >= 0 ? Math.min(upstreamTtl, ttl) : ttl;
    const body = { ...rest, _meta: { ...meta, [META_SERVER_INFO]: deps.serverInfo } };
    const json = JSON.stringify(body);
    return `${json.slice(0, -1)},${extra.replace(`"ttlMs":${ttl}`, `"ttlMs":${finalTtl}`)}}`;
  }

  return { post };
}

/**
 * A 2026-07-28 client takes notifications related to its request on the response stream, but no server-to-client
 * requests: those become input_required results (MRTR), which this gateway does not translate yet. Until then an
 * upstream's sampling or elicitation request is refused clearly, to the upstream, and the call goes on.
 */
function modernRelay(stream: RequestStream): Relay {
  return {
    notify: (n) => stream.notify(n),
    request: async (method) => ({ ok: false, error: { code: CLIENT_UNREACHABLE, message: `${method}: this client speaks MCP 2026-07-28, and the gateway does not translate server-to-client requests into input_required results` } }),
    available: () => true,
  };
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
