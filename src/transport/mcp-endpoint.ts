/**
 * The Streamable HTTP endpoint (/mcp and /mcp/<serverId>): POST carries one JSON-RPC message, GET opens the
 * server-to-client stream, DELETE ends the session. Identity is checked on every request; sessions never
 * stand in for it (checklist C8).
 */
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import {
  AuthenticationError,
  GatewayError,
  InvalidParamsError,
  InvalidRequestError,
  ShuttingDownError,
  toJsonRpcError,
} from '../errors/index.js';
import { INVALID_REQUEST, SESSION_NOT_FOUND } from '../errors/codes.js';
import type { Authenticate, Subject } from '../identity/index.js';
import { newCallContext } from '../pipeline/call-context.js';
import type { Frame } from '../pipeline/frame.js';
import type { TaskRunner } from '../pipeline/call-context.js';
import type { Dispatch } from '../pipeline/methods.js';
import { ClientUpstreams, type Upstream } from '../upstream/index.js';
import { RequestStream, sessionRelay } from './client-link.js';
import { createTask, handleTaskRequest, isTaskAugmented, TASKS_CAPABILITY } from './tasks.js';
import { classify, type JsonRpcId, type JsonRpcRequest, type JsonRpcResponse, type MessageKind } from '../protocol/json-rpc.js';
import { isModernVersion, negotiateVersion } from '../protocol/mcp.js';
import { createStatelessTransport, unsupportedVersion } from './stateless.js';
import type { Listeners } from './listeners.js';
import type { Logger } from '../telemetry/logger.js';
import type { RequestTrace, Tracing } from '../telemetry/tracing.js';
import { checkPostHeaders, checkProtocolVersion } from './guards.js';
import type { Session, SessionStore } from './sessions.js';
import { randomUUID } from 'node:crypto';

export interface McpEndpointDeps {
  authenticate: Authenticate;
  sessions: SessionStore;
  /** The pipeline's method table: the transport routes nothing itself. */
  dispatch: Dispatch;
  /** Records a request refused before it reached the pipeline (authentication), in the frame's shape. */
  refusal: Frame['refusal'];
  /** tools/call may run as an MCP task (2025-11-25): on when approvals can hold calls for minutes. */
  tasks?: boolean;
  upstream: (serverId: string) => Upstream | undefined;
  /** Capabilities the aggregate endpoint offers: the union of what its upstreams offer. */
  aggregateCapabilities: () => Record<string, unknown>;
  log: Logger;
  /** Sends the 401/403 challenge; knows the metadata URL for the route. */
  challenge: (req: Request, res: Response, err: AuthenticationError) => void;
  serverExists: (id: string) => boolean;
  serverInfo: { name: string; version: string };
  /** subscriptions/listen streams of 2026-07-28 clients (fed by the same changes as the session streams). */
  listeners: Listeners;
  /** How long a filtered list may be cached by a 2026-07-28 client (policy.listCacheSeconds). */
  listTtlMs: number;
  /** sessions.maxInitializeBytes: the most a session keeps of its initialize params. */
  maxInitializeBytes: number;
  /** Flipped on SIGTERM: no new sessions, in-flight calls finish. */
  draining: () => boolean;
  inflight: { count: number };
  /** Spans per request (src/telemetry/tracing.ts); absent or off: none, at no cost. */
  tracing?: Tracing;
}

function sendJson(res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(body);
}

function errorBody(id: JsonRpcId | null, err: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: toJsonRpcError(err) });
}

/** Transport-level refusals: a JSON-RPC error object without an id, and the matching HTTP status. */
export function refuse(res: ServerResponse, status: number, message: string, code = INVALID_REQUEST): void {
  sendJson(res, status, JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

export function createMcpEndpoint(deps: McpEndpointDeps) {
  const { sessions, log } = deps;
  const stateless = createStatelessTransport({
    sessions,
    dispatch: deps.dispatch,
    upstream: deps.upstream,
    serverInfo: deps.serverInfo,
    log,
    listTtlMs: deps.listTtlMs,
    inflight: deps.inflight,
    mrtr: { maxPending: sessions.max, stateTtlMs: 10 * 60_000 },
    listeners: deps.listeners,
  });

  /** Identity first; a failure is answered here (401/403 with the challenge) and audited. */
  async function identify(req: Request, res: Response, action: string, trace?: RequestTrace): Promise<Subject | null> {
    try {
      return await deps.authenticate(req.headers.authorization, req.query.access_token !== undefined, req.socket);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      trace?.fail(err);
      deps.refusal({
        action: 'authenticate',
        tool: action,
        reason: err.description,
        endpoint: req.baseUrl + req.path,
        remote: req.socket.remoteAddress,
        traceId: trace?.traceId,
        spanId: trace?.spanId,
        stage: 'identity',
      });
      deps.challenge(req, res, err);
      return null;
    }
  }

  function routeServerId(req: Request): string | null | undefined {
    const id = req.params.serverId;
    if (id === undefined) return null;
    return typeof id === 'string' && deps.serverExists(id) ? id : undefined;
  }

  /** Finds the caller's session; answers 400/404 itself when there is none to use. */
  function sessionFor(req: Request, res: Response, subject: Subject, serverId: string | null): Session | null {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string' || sid === '') {
      refuse(res, 400, 'Bad Request: Mcp-Session-Id header is required');
      return null;
    }
    const s = sessions.get(sid);
    // A session of another principal, or of another endpoint, is answered exactly like an unknown one:
    // nothing tells a caller that someone else's session id is live (checklist C14).
    if (!s || s.principal !== subject.principal || s.serverId !== serverId) {
      refuse(res, 404, 'Session not found', SESSION_NOT_FOUND);
      return null;
    }
    s.lastSeen = Date.now();
    return s;
  }

  async function post(req: Request, res: Response): Promise<void> {
    const serverId = routeServerId(req);
    if (serverId === undefined) return refuse(res, 404, 'Not Found: no such server');
    const bad = checkPostHeaders(req);
    if (bad) return refuse(res, bad.status, bad.message);
    const body: unknown = req.body;
    if (Array.isArray(body)) {
      // Batching was removed from MCP in 2025-06-18: one JSON-RPC message per POST.
      return refuse(res, 400, 'Invalid Request: JSON-RPC batches are not supported; send one message per POST');
    }
    const kind = classify(body);
    if (kind === 'invalid') return refuse(res, 400, 'Invalid Request: not a JSON-RPC 2.0 message');
    const msg = body as JsonRpcRequest;
    // An unknown MCP-Protocol-Version: 400 with UnsupportedProtocolVersion (the versions served, the one asked),
    // which both eras read as a refusal and a 2026-07-28 client uses to pick a version.
    const v = req.headers['mcp-protocol-version'];
    if (v !== undefined && !isModernVersion(v) && checkProtocolVersion(req)) {
      return sendJson(res, 400, JSON.stringify({ jsonrpc: '2.0', id: kind === 'request' ? msg.id : null, error: unsupportedVersion(String(v)) }));
    }
    const trace = kind === 'request' ? deps.tracing?.startRequest(msg, req.headers) : undefined;
    if (!trace) return dispatch(req, res, serverId, kind, msg, undefined);
    try {
      await dispatch(req, res, serverId, kind, msg, trace);
    } catch (err) {
      trace.fail(err);
      throw err;
    } finally {
      trace.end();
    }
  }

  /** Identity, then the session, then the message; `trace` spans it all when tracing is on. */
  async function dispatch(req: Request, res: Response, serverId: string | null, kind: MessageKind, msg: JsonRpcRequest, trace: RequestTrace | undefined): Promise<void> {
    trace?.enter('identity');
    const subject = await identify(req, res, kind === 'request' ? msg.method : 'message', trace);
    if (!subject) return;
    // MCP 2026-07-28: no session; the stateless transport serves it from the same method table.
    if (isModernVersion(req.headers['mcp-protocol-version'])) {
      if (kind === 'request') return stateless.post(req, res, serverId, msg, subject, trace);
      if (kind === 'notification') return void res.status(202).end();
      return refuse(res, 400, 'Bad Request: a 2026-07-28 client sends no JSON-RPC responses (server-to-client requests are input_required results)');
    }

    if (kind === 'request' && msg.method === 'initialize') return await initialize(req, res, subject, serverId, msg);
    const session = sessionFor(req, res, subject, serverId);
    if (!session) return;

    if (kind === 'response') {
      onClientAnswer(session, msg as unknown as JsonRpcResponse);
      res.status(202).end();
      return;
    }
    if (kind === 'notification') {
      onNotification(session, msg.method, msg.params);
      res.status(202).end();
      return;
    }
    await handleRequest(req, res, subject, session, msg, trace);
  }

  async function initialize(req: Request, res: Response, subject: Subject, serverId: string | null, msg: JsonRpcRequest): Promise<void> {
    if (req.headers['mcp-session-id'] !== undefined) {
      return refuse(res, 400, 'Bad Request: initialize must not carry an Mcp-Session-Id');
    }
    if (deps.draining()) return sendJson(res, 503, errorBody(msg.id, new ShuttingDownError()));
    if (sessions.full) {
      return sendJson(res, 503, errorBody(msg.id, new GatewayError(INVALID_REQUEST, 'transport', 'Too many sessions; try again later', { httpStatus: 503 })));
    }
    if (sessions.fullFor(subject.principal)) {
      return sendJson(
        res,
        429,
        errorBody(msg.id, new GatewayError(INVALID_REQUEST, 'transport', `Too many sessions for this identity (limit ${sessions.maxPerPrincipal}); end unused sessions with DELETE or wait for them to expire`, { httpStatus: 429 })),
      );
    }
    const kept = initParamsToKeep(msg.params ?? {}, deps.maxInitializeBytes);
    if (typeof kept === 'string') return sendJson(res, 200, errorBody(msg.id, new InvalidParamsError(kept)));
    const version = negotiateVersion(kept.protocolVersion);
    const session = sessions.create(subject.principal, serverId, version, { ...kept, protocolVersion: version });
    session.upstreams = new ClientUpstreams(session.initParams, deps.upstream, sessionRelay(session));
    let result: Record<string, unknown>;
    if (serverId !== null) {
      // The per-server route is transparent: the client sees the upstream's capabilities, instructions and server
      // info (from the gateway's own session with it), and the upstream will see the client's own initialize when
      // the client's upstream session opens, on its first request: an idle client holds nothing upstream.
      const upstream = deps.upstream(serverId)!;
      try {
        await upstream.controlSession();
      } catch (err) {
        sessions.delete(session.id);
        return sendJson(res, 200, errorBody(msg.id, err));
      }
      result = { protocolVersion: version, capabilities: upstream.capabilities, serverInfo: upstream.serverInfo };
      if (upstream.instructions) result.instructions = upstream.instructions;
    } else {
      result = { protocolVersion: version, capabilities: deps.aggregateCapabilities(), serverInfo: deps.serverInfo };
    }
    const caps = (result.capabilities ?? {}) as Record<string, unknown>;
    result.capabilities = { ...caps, tools: { ...((caps.tools as object) ?? {}), listChanged: true } };
    // The gateway runs the tasks itself (the upstream call inside is an ordinary one), whatever the upstream offers.
    if (deps.tasks) (result.capabilities as Record<string, unknown>).tasks = TASKS_CAPABILITY;
    sendJson(res, 200, JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }), { 'Mcp-Session-Id': session.id });
  }

  function onNotification(session: Session, method: string, params: Record<string, unknown> | undefined): void {
    if (method === 'notifications/initialized') {
      session.initialized = true;
    } else if (method === 'notifications/cancelled') {
      const id = params?.requestId as JsonRpcId | undefined;
      if (id !== undefined) session.inflight.get(id)?.abort();
    } else if (method === 'notifications/roots/list_changed') {
      void session.upstreams?.broadcast(method, params);
    }
  }

  /** The client's answer to a request the gateway relayed to it (sampling, elicitation, roots/list). */
  function onClientAnswer(session: Session, msg: JsonRpcResponse): void {
    if (msg.id === null) return;
    const w = session.awaiting.get(msg.id);
    if (!w) return;
    session.awaiting.delete(msg.id);
    clearTimeout(w.timer);
    w.resolve(msg.error ? { ok: false, error: msg.error } : { ok: true, result: msg.result });
  }

  async function handleRequest(req: Request, res: Response, subject: Subject, session: Session, msg: JsonRpcRequest, trace?: RequestTrace): Promise<void> {
    if (session.inflight.has(msg.id)) {
      return sendJson(res, 200, errorBody(msg.id, new InvalidRequestError(`request id ${String(msg.id)} is already in flight`)));
    }
    const ac = new AbortController();
    const params = msg.params ?? {};
    const stream = new RequestStream(res, session);
    const onClose = () => {
      if (!res.writableFinished) ac.abort();
    };
    res.on('close', onClose);
    session.inflight.set(msg.id, ac);
    deps.inflight.count++;
    const ctx = newCallContext({
      subject,
      session,
      serverId: session.serverId,
      signal: ac.signal,
      remote: req.socket.remoteAddress,
      upstreams: session.upstreams!,
      relay: stream,
      trace,
      tasks: deps.tasks ? taskRunner(session, req.socket.remoteAddress) : undefined,
    });
    // The session id is a bearer credential: spans carry its HMAC, as audit records do.
    trace?.session(session.hash, session.protocolVersion);
    let out: string;
    try {
      out = `{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${await deps.dispatch(ctx, msg.method, params)}}`;
      if (trace && msg.method === 'tools/call' && out.includes('"isError":true')) trace.toolError();
    } catch (err) {
      trace?.fail(err);
      if (!(err instanceof GatewayError)) log.error('request failed', { method: msg.method, error: (err as Error).stack ?? String(err) });
      out = errorBody(msg.id, err);
    } finally {
      session.inflight.delete(msg.id);
      deps.inflight.count--;
      res.off('close', onClose);
    }
    stream.finish(out);
  }

  /**
   * MCP tasks on this session: a task-augmented tools/call runs apart from its HTTP request. What it sends on the
   * way (progress, an approval's "awaiting review") goes to the session's GET stream and into the task's status.
   */
  function taskRunner(session: Session, remote: string | undefined): TaskRunner {
    return {
      wants: isTaskAugmented,
      request: (_ctx, method, params) => handleTaskRequest(session, method, params),
      start(ctx, params, run) {
        const { task: _task, ...rest } = params;
        const meta = (rest._meta ?? {}) as Record<string, unknown>;
        // A progress token of our own when the client gave none: progress (an approval's "awaiting review") then
        // flows into the task's statusMessage, without being sent to a client that never asked for it.
        const ownToken = meta.progressToken === undefined ? `task-progress-${randomUUID()}` : undefined;
        const call = ownToken ? { ...rest, _meta: { ...meta, progressToken: ownToken } } : rest;
        const streamRelay = sessionRelay(session);
        return createTask(session, params, async (signal, status) => {
          deps.inflight.count++;
          try {
            const taskCtx = newCallContext({
              subject: ctx.subject,
              session,
              serverId: session.serverId,
              signal,
              remote,
              upstreams: session.upstreams!,
              relay: {
                request: (method, p) => streamRelay.request(method, p),
                notify: (n) => {
                  const message = (n.params as { message?: unknown } | undefined)?.message;
                  const isProgress = n.method === 'notifications/progress';
                  if (isProgress && typeof message === 'string') status(message);
                  if (!(isProgress && ownToken !== undefined && (n.params as { progressToken?: unknown }).progressToken === ownToken)) streamRelay.notify(n);
                },
              },
            });
            return await run(taskCtx, call);
          } finally {
            deps.inflight.count--;
          }
        });
      },
    };
  }

  /** GET: the stream on which the gateway sends notifications (tools/list_changed) to this session. */
  async function get(req: Request, res: Response): Promise<void> {
    // 2026-07-28 has no GET stream (subscriptions/listen replaces it): 405, as the revision says.
    if (isModernVersion(req.headers['mcp-protocol-version'])) return methodNotAllowed(res);
    const serverId = routeServerId(req);
    if (serverId === undefined) return refuse(res, 404, 'Not Found: no such server');
    if (!(req.headers.accept ?? '').includes('text/event-stream')) {
      return refuse(res, 406, 'Not Acceptable: GET requires Accept: text/event-stream');
    }
    const bad = checkProtocolVersion(req);
    if (bad) return refuse(res, bad.status, bad.message);
    const subject = await identify(req, res, 'GET');
    if (!subject) return;
    const session = sessionFor(req, res, subject, serverId);
    if (!session) return;
    if (session.stream && !session.stream.writableEnded) {
      return refuse(res, 409, 'Conflict: only one GET stream per session is supported');
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.flushHeaders();
    session.stream = res;
    session.upstreams?.listen();
    // Proxies drop silent connections; a comment line every 25 s keeps the stream open.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 25_000);
    keepAlive.unref();
    // A stream is authenticated once, when it opens: it must not outlive the token that opened it. The client
    // reconnects with its current token (and is authenticated again) to keep listening.
    const expiry = streamExpiry(subject);
    const expire = expiry === undefined ? undefined : setTimeout(() => res.end(), expiry);
    expire?.unref();
    res.on('close', () => {
      clearInterval(keepAlive);
      if (expire) clearTimeout(expire);
      if (session.stream === res) session.stream = undefined;
    });
  }

  async function del(req: Request, res: Response): Promise<void> {
    if (isModernVersion(req.headers['mcp-protocol-version'])) return methodNotAllowed(res);
    const serverId = routeServerId(req);
    if (serverId === undefined) return refuse(res, 404, 'Not Found: no such server');
    const subject = await identify(req, res, 'DELETE');
    if (!subject) return;
    const session = sessionFor(req, res, subject, serverId);
    if (!session) return;
    sessions.delete(session.id);
    res.status(200).end();
  }

  function methodNotAllowed(res: Response): void {
    res.setHeader('Allow', 'POST');
    refuse(res, 405, 'Method Not Allowed: MCP 2026-07-28 has no session stream; use POST (subscriptions/listen for change notifications)');
  }

  /** Express 5 forwards rejected promises to the error handler; this keeps the handlers plain async functions. */
  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      fn(req, res).catch(next);
    };

  return { post: wrap(post), get: wrap(get), delete: wrap(del) };
}

/** Milliseconds until the subject's token expires (`exp`), or undefined for a token without one. */
function streamExpiry(subject: Subject): number | undefined {
  const exp = subject.claims.exp;
  if (typeof exp !== 'number') return undefined;
  // setTimeout holds at most 2^31-1 ms (~24.8 days); a longer-lived token is checked again at that point anyway.
  return Math.min(Math.max(0, exp * 1000 - Date.now()), 2_147_483_647);
}

/**
 * What a session keeps of the client's initialize for its whole life (it is replayed to each upstream session
 * opened for the client): the protocol version, capabilities and client info only, and only up to a size bound,
 * so that a client cannot park a megabyte per session in the gateway's memory. Returns the refusal otherwise.
 */
export function initParamsToKeep(params: Record<string, unknown>, maxBytes: number): Record<string, unknown> | string {
  const kept: Record<string, unknown> = {};
  if (params.protocolVersion !== undefined) kept.protocolVersion = params.protocolVersion;
  if (params.capabilities !== undefined) kept.capabilities = params.capabilities;
  if (params.clientInfo !== undefined) kept.clientInfo = params.clientInfo;
  const size = Buffer.byteLength(JSON.stringify(kept));
  if (size > maxBytes) return `initialize: params too large (${size} bytes of capabilities and clientInfo; limit ${maxBytes}, sessions.maxInitializeBytes)`;
  return kept;
}

/** Relays a list_changed notification from an upstream to every session with a stream on an affected endpoint. */
export function broadcast(sessions: SessionStore, serverId: string, n: { method: string; params?: Record<string, unknown> }): void {
  const line = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: n.method, params: n.params })}\n\n`;
  for (const s of sessions.all()) {
    if (s.stream && (s.serverId === null || s.serverId === serverId)) s.stream.write(line);
  }
}

/** Announces a changed tool list to every session that has a stream open on an affected endpoint. */
export function broadcastToolsChanged(sessions: SessionStore, serverId: string): void {
  const line = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })}\n\n`;
  for (const s of sessions.all()) {
    if (s.stream && (s.serverId === null || s.serverId === serverId)) s.stream.write(line);
  }
}

/** Tells every session with a stream open, on any endpoint (a new policy bundle may change what each sees). */
export function broadcastAll(sessions: SessionStore, n: { method: string; params?: Record<string, unknown> }): void {
  const line = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: n.method, params: n.params })}\n\n`;
  for (const s of sessions.all()) if (s.stream && !s.stream.writableEnded) s.stream.write(line);
}
