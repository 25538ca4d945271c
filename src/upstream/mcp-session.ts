/**
 * One MCP session with an upstream, over any Channel: gateway-assigned request ids, answers matched to requests,
 * progress tokens made unique, cancellation, and upstream-initiated messages handed to whoever they belong to.
 */
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../errors/index.js';
import { INTERNAL_ERROR, METHOD_NOT_FOUND } from '../errors/codes.js';
import type { JsonRpcErrorBody, JsonRpcId, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../protocol/json-rpc.js';
import type { Channel } from './channel.js';
import { HttpStatusError } from './http-transport.js';

export type UpstreamAnswer = { ok: true; result: unknown } | { ok: false; error: JsonRpcErrorBody };

/** Where upstream-initiated messages go: a client's request stream, or the client session's own stream. */
export interface Relay {
  /** A request from the upstream (sampling, elicitation, roots/list, …); resolves with the client's answer. */
  request(method: string, params: Record<string, unknown> | undefined): Promise<UpstreamAnswer>;
  notify(message: JsonRpcNotification): void;
  /** False when this relay has no way to reach its client right now (e.g. no GET stream open). */
  available?(): boolean;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Credentials this request carries (in headers): what the upstream might echo later, to be scrubbed. */
  secrets?: readonly string[];
  /** Receives messages related to this request (progress with the caller's own token restored, sampling, logs). */
  relay?: Relay;
  /** Who is asking (one client session): a shared session hands an unattributed message only to a sole asker. */
  owner?: object;
  /** W3C trace context for the upstream: put in params._meta (MCP semconv) and, over HTTP, in the headers. */
  trace?: { traceparent: string; tracestate?: string };
}

interface Pending {
  resolve: (a: UpstreamAnswer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  relay?: Relay;
  owner?: object;
  clientProgressToken?: string | number;
}

/** A request we stopped waiting for (timeout, cancel) that the upstream may still be working on. */
interface Abandoned {
  owner: object;
  until: number;
}

/** Abandoned requests remembered at most, oldest forgotten first. */
const ABANDONED_MAX = 1024;
/**
 * How long an abandoned request keeps a shared session's unattributed messages from a sole waiting client (at
 * most its own timeout). A well-behaved server stops on cancellation; one that goes on and asks late is refused
 * in this window, and an upstream cannot be made to give up sampling for everyone for long by one cancel.
 */
const ABANDONED_HORIZON_MS = 30_000;

export interface SessionHooks {
  /** Upstream messages that relate to no request we can name. */
  unrelated?: Relay;
  onClose?: (reason: string) => void;
}

export class McpSession {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly progress = new Map<string, Pending>();
  /**
   * On a shared session, requests whose caller stopped waiting while the upstream may go on: until their timeout
   * has passed again, a message that names no request could still be theirs, so it is not given to someone else.
   */
  private readonly abandoned = new Map<number, Abandoned>();
  private closed = false;
  initializeResult: Record<string, unknown> = {};

  constructor(
    readonly serverId: string,
    readonly channel: Channel,
    private readonly defaultTimeoutMs: number,
    /** A shared session (one STDIO process for every client) may route unrelated messages only when unambiguous. */
    readonly shared: boolean,
    public hooks: SessionHooks = {},
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** Starts the channel and runs the initialize handshake with the given client parameters. */
  async open(initParams: Record<string, unknown>, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    await this.channel.start(
      (m, related) => this.onMessage(m, related),
      (reason) => this.onClose(reason),
    );
    const init = await this.request('initialize', initParams, { timeoutMs });
    if (!init.ok) throw new Error(`initialize refused: ${init.error.message}`);
    this.initializeResult = (init.result ?? {}) as Record<string, unknown>;
    const v = this.initializeResult.protocolVersion;
    if (typeof v === 'string') this.channel.setProtocolVersion(v);
    await this.channel.send({ jsonrpc: '2.0', method: 'notifications/initialized' }, this.bounded());
    return this.initializeResult;
  }

  private listening = false;

  /** Opens the stream for upstream-initiated messages (once); only worth it when someone will read them. */
  listen(): Promise<void> {
    if (this.listening || this.closed) return Promise.resolve();
    this.listening = true;
    return this.channel.listen();
  }

  /** Sends a request; resolves with the upstream's answer (a result or its JSON-RPC error). */
  request(method: string, params: Record<string, unknown> | undefined, opts: RequestOptions = {}): Promise<UpstreamAnswer> {
    if (this.closed) return Promise.reject(new UpstreamUnavailableError(this.serverId, 'session closed'));
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    let outParams = params;
    let progressKey: string | undefined;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const clientToken = meta?.progressToken as string | number | undefined;
    if (clientToken !== undefined) {
      // Client progress tokens are unique per client only; a shared upstream session needs gateway-unique ones.
      progressKey = `pc-${id}`;
      outParams = { ...params, _meta: { ...meta, progressToken: progressKey } };
    }
    let headers = opts.headers;
    if (opts.trace) {
      // The gateway's span is the upstream's parent now: a traceparent the client put in _meta is replaced.
      outParams = { ...outParams, _meta: { ...(outParams?._meta as Record<string, unknown> | undefined), ...opts.trace } };
      headers = { ...headers, ...opts.trace };
    }
    const message: JsonRpcRequest = { jsonrpc: '2.0', id, method, params: outParams };
    // The request's own abort: a call we stop waiting for (timeout, client cancel or gone, session closed) also
    // stops its HTTP request, so a stream the upstream never ends does not hold a pooled connection forever.
    const outbound = new AbortController();
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(entry.timer);
        this.pending.delete(id);
        if (progressKey) this.progress.delete(progressKey);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const entry: Pending = {
        resolve: (a) => {
          cleanup();
          resolve(a);
        },
        reject: (e) => {
          cleanup();
          outbound.abort();
          reject(e);
        },
        timer: setTimeout(() => {
          entry.reject(new UpstreamTimeoutError(this.serverId, timeoutMs));
          this.abandon(id, entry, timeoutMs);
          this.cancel(id, 'timeout');
        }, timeoutMs),
        relay: opts.relay,
        owner: opts.owner ?? opts.relay,
        clientProgressToken: clientToken,
      };
      const onAbort = () => {
        entry.reject(new UpstreamUnavailableError(this.serverId, 'request cancelled'));
        this.abandon(id, entry, timeoutMs);
        this.cancel(id, 'cancelled by client');
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      if (progressKey) this.progress.set(progressKey, entry);
      this.channel.send(message, { headers, requestId: id, signal: outbound.signal }).catch((err: unknown) => {
        if (!this.pending.has(id)) return;
        if (err instanceof HttpStatusError && err.status === 404) return entry.reject(err); // caller re-initializes
        entry.reject(new UpstreamUnavailableError(this.serverId, (err as Error).message, err));
      });
    });
  }

  notify(method: string, params?: Record<string, unknown>): Promise<void> {
    return this.channel.send({ jsonrpc: '2.0', method, params }, this.bounded()).catch(() => undefined);
  }

  /**
   * A notification or a reply is answered 202 at once by a sound upstream; one that never answers must not hold
   * a pooled connection, so these sends end with the session's timeout.
   */
  private bounded(): { signal?: AbortSignal } {
    return this.channel.kind === 'http' ? { signal: AbortSignal.timeout(this.defaultTimeoutMs) } : {};
  }

  /** Tells the upstream to stop working on a request we no longer wait for (MCP cancellation). */
  private cancel(id: number, reason: string): void {
    this.channel.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } }, this.bounded()).catch(() => undefined);
  }

  private abandon(id: number, entry: Pending, horizonMs: number): void {
    if (!this.shared || !entry.owner) return;
    if (this.abandoned.size >= ABANDONED_MAX) this.abandoned.delete(this.abandoned.keys().next().value!);
    this.abandoned.set(id, { owner: entry.owner, until: Date.now() + Math.min(horizonMs, ABANDONED_HORIZON_MS) });
  }

  /**
   * Who gets an upstream-initiated message: the request it relates to (its answer stream over HTTP, or the
   * gateway progress token it carries in _meta), else the session's own relay; on a shared session, the one
   * client waiting on it, when there is exactly one (counting those whose call ended while the upstream may
   * still be working on it). Guessing between two would hand one client's sampling request or log line to
   * another (checklist C15).
   */
  private relayFor(related: number | undefined, params: Record<string, unknown> | undefined): { relay: Relay; entry?: Pending; byToken?: boolean } | undefined {
    if (related !== undefined) {
      const entry = this.pending.get(related);
      if (entry?.relay) return { relay: entry.relay, entry };
    }
    const token = (params?._meta as Record<string, unknown> | undefined)?.progressToken;
    if (typeof token === 'string') {
      const entry = this.progress.get(token);
      if (entry?.relay) return { relay: entry.relay, entry, byToken: true };
    }
    if (!this.shared) {
      // A per-client session has exactly one owner: anything it sends is that client's. It goes on the client's
      // own stream when one is open, else on the stream of the client's latest request still waiting here (what
      // the SDK's server.request() without a related request sends on its standalone stream).
      const own = this.hooks.unrelated;
      if (own && own.available?.() !== false) return { relay: own };
      let latest: Pending | undefined;
      for (const p of this.pending.values()) if (p.relay) latest = p;
      if (latest) return { relay: latest.relay!, entry: latest };
      return own ? { relay: own } : undefined;
    }
    const now = Date.now();
    const owners = new Set<object>();
    for (const [id, a] of this.abandoned) {
      if (a.until < now) this.abandoned.delete(id);
      else owners.add(a.owner);
    }
    let only: Pending | undefined;
    for (const p of this.pending.values()) {
      if (!p.relay || !p.owner) continue;
      owners.add(p.owner);
      only ??= p;
    }
    if (owners.size !== 1 || !only || !owners.has(only.owner!)) return undefined;
    return { relay: only.relay!, entry: only };
  }

  private onMessage(m: JsonRpcMessage, related: number | undefined): void {
    // One upstream's malformed message stays its own problem: it is dropped, never thrown into a handler.
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return;
    if ('method' in m) {
      if (typeof m.method !== 'string') return;
      if ('id' in m) return this.onServerRequest(m as JsonRpcRequest, related);
      const n = m as JsonRpcNotification;
      if (n.method === 'notifications/progress') {
        const p = (n.params ?? {}) as Record<string, unknown>;
        const entry = this.progress.get(String(p.progressToken));
        entry?.relay?.notify({ jsonrpc: '2.0', method: n.method, params: { ...p, progressToken: entry.clientProgressToken } });
        return;
      }
      this.relayFor(related, n.params)?.relay.notify(n);
      return;
    }
    const r = m as JsonRpcResponse;
    if (typeof r.id !== 'number') return;
    this.pending.get(r.id)?.resolve(r.error !== undefined && r.error !== null ? { ok: false, error: wellFormedError(r.error) } : { ok: true, result: r.result });
  }

  private onServerRequest(req: JsonRpcRequest, related: number | undefined): void {
    const reply = (body: { result: unknown } | { error: JsonRpcErrorBody }) => {
      const msg = { jsonrpc: '2.0' as const, id: req.id as JsonRpcId, ...body };
      this.channel.send(msg as JsonRpcResponse, this.bounded()).catch(() => undefined);
    };
    if (req.method === 'ping') return reply({ result: {} });
    const target = this.relayFor(related, req.params);
    if (!target) return reply({ error: { code: METHOD_NOT_FOUND, message: `No client to answer ${req.method} on this session` } });
    target.relay.request(req.method, target.byToken ? withClientToken(req.params, target.entry) : req.params).then(
      (a) => reply(a.ok ? { result: a.result } : { error: a.error }),
      (err: unknown) => reply({ error: { code: INTERNAL_ERROR, message: (err as Error).message ?? 'client did not answer' } }),
    );
  }

  private onClose(reason: string): void {
    this.closed = true;
    // In-flight calls on a dead link can never be answered: fail them now, clearly.
    for (const entry of [...this.pending.values()]) entry.reject(new UpstreamUnavailableError(this.serverId, `${reason} during the call`));
    this.hooks.onClose?.(reason);
  }

  /** Fails everything still waiting and ends the session politely. */
  async close(reason = 'session closed'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of [...this.pending.values()]) entry.reject(new UpstreamUnavailableError(this.serverId, reason));
    await this.channel.close().catch(() => undefined);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** An upstream's error as the client will see it: a malformed one becomes a plain internal error. */
function wellFormedError(e: unknown): JsonRpcErrorBody {
  if (e === null || typeof e !== 'object') return { code: INTERNAL_ERROR, message: 'upstream sent a malformed error' };
  const o = e as { code?: unknown; message?: unknown; data?: unknown };
  const out: JsonRpcErrorBody = {
    code: typeof o.code === 'number' && Number.isInteger(o.code) ? o.code : INTERNAL_ERROR,
    message: typeof o.message === 'string' ? o.message : 'upstream sent a malformed error',
  };
  if (o.data !== undefined) out.data = o.data;
  return out;
}

/** The gateway progress token a relayed request named its call by is turned back into the client's own. */
function withClientToken(params: Record<string, unknown> | undefined, entry: Pending | undefined): Record<string, unknown> | undefined {
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (meta?.progressToken === undefined) return params;
  const { progressToken: _gatewayToken, ...rest } = meta;
  const clientToken = entry?.clientProgressToken;
  return { ...params, _meta: clientToken === undefined ? rest : { ...rest, progressToken: clientToken } };
}
