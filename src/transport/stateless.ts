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
import { HEADER_MISMATCH, INVALID_PARAMS, METHOD_NOT_FOUND, MISSING_CLIENT_CAPABILITY, RESOURCE_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION } from '../errors/codes.js';
import type { Subject } from '../identity/index.js';
import { newCallContext } from '../pipeline/call-context.js';
import type { Dispatch } from '../pipeline/methods.js';
import type { JsonRpcId, JsonRpcRequest } from '../protocol/json-rpc.js';
import { capabilityKey, LATEST_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL, META_PROTOCOL_VERSION, META_SERVER_INFO, MODERN_PROTOCOL_VERSIONS, supportedVersions } from '../protocol/mcp.js';
import type { Logger } from '../telemetry/logger.js';
import type { RequestTrace } from '../telemetry/tracing.js';
import { ClientUpstreams, type Upstream } from '../upstream/index.js';
import { ExchangeStore, type Outcome } from './mrtr.js';
import type { Listeners } from './listeners.js';
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
  /** subscriptions/listen streams. */
  listeners: Listeners;
  /** Bounds of the calls held between MRTR rounds. */
  mrtr: { maxPending: number; stateTtlMs: number };
}

export function createStatelessTransport(deps: StatelessDeps) {
  /** (principal, endpoint, capability key) → the id of the bridge session holding upstream sessions for it. */
  const bridges = new Map<string, string>();
  /** Calls waiting for the client's input between MRTR rounds. */
  const exchanges = new ExchangeStore(deps.mrtr);

  function bridgeFor(subject: Subject, serverId: string | null, capabilities: Record<string, unknown>, clientInfo: unknown): Session {
    // Keyed by principal, endpoint and the capabilities the client declares (the correlation key SEP-2567 asks a
    // bridge to use): the upstream session is initialized with exactly those, so what it lists and asks fits.
    const caps = pick(capabilities);
    const key = `${subject.principal}\u0000${serverId ?? ''}\u0000${capabilityKey(caps)}`;
    const existing = bridges.get(key);
    const live = existing === undefined ? undefined : deps.sessions.get(existing);
    if (live) {
      live.lastSeen = Date.now();
      return live;
    }
    // Upstreams are 2025-era: each is initialized with the client's own capabilities, at the newest 2025 revision.
    const initParams = { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: caps, clientInfo: isObject(clientInfo) ? clientInfo : { name: 'portcullis-bridge', version: '1' } };
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
   * One stateless request: `identify` authenticated it (every request on its own, no session stands in); the
   * method table serves it. A retry carrying `requestState` continues the call it names instead (MRTR).
   */
  async function post(req: Request, res: Response, serverId: string | null, msg: JsonRpcRequest, subject: Subject, trace: RequestTrace | undefined): Promise<void> {
    const version = req.headers['mcp-protocol-version'] as string;
    const params = (msg.params ?? {}) as Record<string, unknown>;
    if (!MODERN_PROTOCOL_VERSIONS.includes(version)) return send(res, 400, msg.id, { error: unsupportedVersion(version) });
    const mismatch = checkHeaderBinding(req.headers, msg.method, params);
    if (mismatch) return send(res, 400, msg.id, { error: { code: HEADER_MISMATCH, message: mismatch } });
    const metaProblem = checkRequestMeta(params);
    if (metaProblem) return send(res, 400, msg.id, { error: { code: INVALID_PARAMS, message: metaProblem } });
    if (REMOVED.has(msg.method)) return send(res, 404, msg.id, { error: toJsonRpcError(new MethodNotFoundError(msg.method)) });

    const meta = params._meta as Record<string, unknown>;
    const capabilities = meta[META_CLIENT_CAPABILITIES] as Record<string, unknown>;
    if (msg.method === 'subscriptions/listen') {
      const filter = isObject(params.notifications) ? (params.notifications as Record<string, unknown>) : {};
      const exp = subject.claims.exp;
      deps.listeners.open(res, msg.id, serverId, filter, typeof exp === 'number' ? Math.min(Math.max(0, exp * 1000 - Date.now()), 2_147_483_647) : undefined);
      return;
    }
    const stream = new RequestStream(res);
    const logs = meta[META_LOG_LEVEL] !== undefined;
    let outcome: Outcome;
    if (params.requestState !== undefined) {
      const ex = exchanges.resume(params.requestState, subject.principal, msg.method, targetOf(msg.method, params));
      if (typeof ex === 'string') return send(res, 200, msg.id, { error: { code: INVALID_PARAMS, message: ex } });
      ex.attach(stream, logs);
      ex.answer((params.inputResponses ?? {}) as Record<string, unknown>);
      outcome = await ex.next();
    } else {
      const bridge = bridgeFor(subject, serverId, capabilities, meta[META_CLIENT_INFO]);
      const ac = new AbortController();
      const ex = exchanges.open(subject.principal, msg.method, targetOf(msg.method, params), capabilities, ac);
      ex.attach(stream, logs);
      // On Streamable HTTP 2026-07-28, closing the response stream is the cancellation: of a call that is not
      // waiting for the client's input (one that is keeps running until its state expires).
      res.on('close', () => {
        if (!res.writableFinished && !ex.waitingForInput) ac.abort();
      });
      const ctx = newCallContext({
        subject,
        session: { hash: null, protocolVersion: version, capabilityKey: bridge.capabilityKey },
        serverId,
        signal: ac.signal,
        remote: req.socket.remoteAddress,
        upstreams: bridge.upstreams!,
        relay: ex.relay,
        trace,
      });
      const { requestState: _s, inputResponses: _i, ...clean } = params;
      deps.inflight.count++;
      ex.run(deps.dispatch(ctx, msg.method, clean).finally(() => deps.inflight.count--));
      outcome = await ex.next();
    }
    if (outcome.kind === 'input') {
      stream.finish(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${JSON.stringify({ resultType: 'input_required', inputRequests: outcome.requests, requestState: outcome.state, _meta: { [META_SERVER_INFO]: deps.serverInfo } })}}`);
      return;
    }
    if (outcome.kind === 'result') {
      stream.finish(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${decorate(outcome.text, msg.method)}}`);
      return;
    }
    const err = outcome.error;
    trace?.fail(err);
    if (!(err instanceof GatewayError)) deps.log.error('request failed', { method: msg.method, error: (err as Error)?.stack ?? String(err) });
    const e = toJsonRpcError(err);
    // 2026-07-28 moved "resource not found" to Invalid Params.
    if (e.code === RESOURCE_NOT_FOUND) e.code = INVALID_PARAMS;
    const status = e.code === METHOD_NOT_FOUND ? 404 : e.code === MISSING_CLIENT_CAPABILITY ? 400 : 200;
    if (status !== 200 && !stream.streaming) return send(res, status, msg.id, { error: e });
    stream.finish(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: e }));
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

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The capabilities worth telling a 2025 upstream (the ones it may ask the client to use). */
function pick(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['sampling', 'elicitation', 'roots']) if (isObject(c[k])) out[k] = c[k];
  return out;
}

/** SEP-2575: every request carries its version and the client's capabilities in `_meta` (clientInfo is a SHOULD). */
function checkRequestMeta(params: Record<string, unknown>): string | null {
  const meta = params._meta;
  if (!isObject(meta)) return 'Invalid params: _meta with io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities is required';
  const m = meta as Record<string, unknown>;
  if (typeof m[META_PROTOCOL_VERSION] !== 'string') return 'Invalid params: _meta.io.modelcontextprotocol/protocolVersion is required';
  if (!isObject(m[META_CLIENT_CAPABILITIES])) return 'Invalid params: _meta.io.modelcontextprotocol/clientCapabilities is required';
  return null;
}

/** UnsupportedProtocolVersionError: the versions served and the one asked for. */
export function unsupportedVersion(requested: string): { code: number; message: string; data: Record<string, unknown> } {
  return { code: UNSUPPORTED_PROTOCOL_VERSION, message: `Unsupported protocol version: ${requested.slice(0, 40)}`, data: { supported: supportedVersions(), requested: requested.slice(0, 40) } };
}

/** What a retry must name again: the tool, prompt or resource of the original request. */
function targetOf(method: string, params: Record<string, unknown>): string {
  const t = method === 'resources/read' ? params.uri : params.name;
  return typeof t === 'string' ? t : '';
}
