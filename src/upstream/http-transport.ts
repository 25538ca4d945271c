/**
 * Streamable HTTP towards one upstream server: POSTs JSON-RPC messages and reads JSON or SSE answers.
 * Written on undici's pooled `request` rather than the SDK client transport: per-call headers (credentials),
 * no session-wide AbortSignal on every fetch (the MaxListeners leak), and far less CPU per call.
 */
import { Pool, type Dispatcher } from 'undici';
import type { ConnectionOptions } from 'node:tls';
import { createParser } from 'eventsource-parser';
import type { JsonRpcMessage } from '../protocol/json-rpc.js';

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

/** An answer over the size limit: the request was aborted and the answer dropped. */
export class ResponseTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`answer larger than ${limit} bytes (maxResponseBytes); the request was aborted`);
    this.name = 'ResponseTooLargeError';
  }
}

export interface PostOptions {
  headers?: Record<string, string>;
  /** Aborts the request, freeing its connection (timeout, client cancel, client gone). */
  signal?: AbortSignal;
}

export interface PoolLimits {
  /** Connections for calls. */
  connections: number;
  /** Largest JSON body or SSE event read from the upstream. */
  maxResponseBytes: number;
}

/** How much of an HTTP error body is quoted in the error: enough to read, never the whole of a huge one. */
const ERROR_BODY_QUOTE = 300;
/** After our answer arrived on an SSE stream, how long the upstream may take to end it before we do. */
const ANSWERED_STREAM_GRACE_MS = 5000;

/** The connection pools to one upstream URL, shared by every MCP session the gateway holds with it. */
export class HttpPool {
  /** Requests: bounded, kept alive, reused call after call. Replaced (not mutated) by useTls. */
  pool: Pool;
  /** Long-lived GET streams, apart from requests: each holds a connection for its whole life, and sharing one
   *  bounded pool would let a few hundred idle streams starve every call. */
  streams: Pool;
  readonly path: string;

  private readonly connections: number;
  readonly maxResponseBytes: number;

  constructor(
    readonly url: URL,
    readonly staticHeaders: Record<string, string>,
    limits: PoolLimits = { connections: 128, maxResponseBytes: 16 * 1024 * 1024 },
  ) {
    this.connections = limits.connections;
    this.maxResponseBytes = limits.maxResponseBytes;
    this.pool = new Pool(url.origin, { connections: this.connections, pipelining: 1, keepAliveTimeout: 30_000 });
    this.streams = new Pool(url.origin, { pipelining: 0, bodyTimeout: 0, headersTimeout: 30_000 });
    this.path = url.pathname + url.search;
  }

  /**
   * Connects from now on with these TLS options (CA, client certificate): new pools take every new request, and
   * the old ones close gracefully, so calls and streams in flight finish on the connections they started on.
   */
  useTls(tls: ConnectionOptions): void {
    const oldPool = this.pool;
    const oldStreams = this.streams;
    this.pool = new Pool(this.url.origin, { connections: this.connections, pipelining: 1, keepAliveTimeout: 30_000, connect: tls });
    this.streams = new Pool(this.url.origin, { pipelining: 0, bodyTimeout: 0, headersTimeout: 30_000, connect: tls });
    void oldPool.close().catch(() => undefined);
    void oldStreams.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close().catch(() => undefined), this.streams.destroy().catch(() => undefined)]);
  }
}

/** One MCP session over Streamable HTTP: the session id and protocol version it carries on every request. */
export class HttpTransport {
  // Read through the shared pools on each request: useTls may have swapped them since this session began.
  private readonly shared: HttpPool;
  private readonly path: string;
  private readonly staticHeaders: Record<string, string>;
  sessionId: string | undefined;
  protocolVersion: string | undefined;

  constructor(shared: HttpPool) {
    this.shared = shared;
    this.path = shared.path;
    this.staticHeaders = shared.staticHeaders;
  }

  private headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = {
      ...this.staticHeaders,
      ...extra,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    if (this.sessionId) h['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion) h['mcp-protocol-version'] = this.protocolVersion;
    return h;
  }

  /** Sends one message; every message in the answer (JSON or SSE) is handed to onMessage as it arrives. */
  async post(message: JsonRpcMessage, onMessage: (m: JsonRpcMessage) => void, opts: PostOptions = {}): Promise<void> {
    const res = await this.shared.pool.request({
      path: this.path,
      method: 'POST',
      headers: this.headers(opts.headers),
      body: JSON.stringify(message),
      signal: opts.signal,
    });
    const sid = res.headers['mcp-session-id'];
    if (typeof sid === 'string' && sid !== '') this.sessionId = sid;
    const status = res.statusCode;
    if (status === 202) {
      await res.body.dump();
      return;
    }
    if (status >= 300 && status < 400) {
      // Following would send the call (and its credential) wherever the upstream points: an SSRF, so never.
      await res.body.dump().catch(() => undefined);
      throw new HttpStatusError(status, `answered HTTP ${status} redirect; redirects are not followed`);
    }
    if (status >= 400) {
      const text = await readCapped(res.body, ERROR_BODY_QUOTE);
      throw new HttpStatusError(status, `HTTP ${status}${text ? `: ${text}` : ''}`);
    }
    const limit = this.shared.maxResponseBytes;
    const ctype = String(res.headers['content-type'] ?? '');
    const isRequest = 'method' in message && 'id' in message;
    if (ctype.includes('text/event-stream')) {
      await readSse(res.body, onMessage, limit, isRequest ? (message as { id: unknown }).id : undefined);
      return;
    }
    const declared = Number(res.headers['content-length']);
    if (declared > limit) {
      res.body.destroy();
      throw new ResponseTooLargeError(limit);
    }
    const text = await readLimited(res.body, limit);
    if (text === '') {
      // A request must be answered; an empty body would leave the call waiting for its whole timeout.
      if (isRequest) throw new HttpStatusError(status, `answered HTTP ${status} with an empty body`);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HttpStatusError(status, `answered HTTP ${status} with a body that is not JSON (content-type ${ctype || 'none'})`);
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) if (isMessage(m)) onMessage(m);
  }

  /**
   * Opens the GET stream on which the upstream sends notifications outside any request.
   * Resolves when the stream ends; rejects with HttpStatusError(405) when the upstream offers none.
   */
  async listen(onMessage: (m: JsonRpcMessage) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
    const h = this.headers();
    delete h['content-type'];
    h.accept = 'text/event-stream';
    const res = await this.shared.streams.request({ path: this.path, method: 'GET', headers: h, signal });
    // A redirect is not followed here either; like an error it ends this attempt.
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await res.body.dump();
      throw new HttpStatusError(res.statusCode, `HTTP ${res.statusCode}`);
    }
    onOpen?.();
    await readSse(res.body, onMessage, this.shared.maxResponseBytes);
  }

  /** Ends the upstream session (transport spec: clients SHOULD send DELETE when they are done). */
  async terminate(): Promise<void> {
    if (!this.sessionId) return;
    try {
      const res = await this.shared.pool.request({ path: this.path, method: 'DELETE', headers: this.headers(), signal: AbortSignal.timeout(2000) });
      await res.body.dump();
    } catch {
      // The upstream may already be gone; nothing else to do on the way out.
    }
    this.sessionId = undefined;
  }
}

function isMessage(m: unknown): m is JsonRpcMessage {
  return m !== null && typeof m === 'object' && !Array.isArray(m);
}

/** The body as text, refusing (and aborting) past `limit` bytes instead of buffering whatever comes. */
async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new ResponseTooLargeError(limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The first `max` characters of a body, then it is dropped: an error body is quoted, never buffered whole. */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= max) break;
    }
  } catch {
    // What we could read is enough to say what happened.
  } finally {
    body.destroy();
  }
  return text.slice(0, max);
}

/**
 * Reads an SSE stream, handing each message to onMessage. One event may not exceed `limit` bytes; past it the
 * stream is aborted. Once the answer to `answerId` has arrived, the upstream has a short grace to end the stream.
 */
async function readSse(body: Dispatcher.ResponseData['body'], onMessage: (m: JsonRpcMessage) => void, limit: number, answerId?: unknown): Promise<void> {
  let sinceEvent = 0;
  let dispatched = false;
  let grace: NodeJS.Timeout | undefined;
  const parser = createParser({
    onEvent(ev) {
      dispatched = true;
      if (ev.event !== undefined && ev.event !== 'message') return;
      if (ev.data === '') return;
      let m: unknown;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return; // An unparseable event cannot be matched to a request; the request then times out loudly.
      }
      if (!isMessage(m)) return;
      if (answerId !== undefined && !grace && !('method' in m) && (m as { id?: unknown }).id === answerId) {
        // Our answer is in: a stream left open after it would hold a pooled connection for nothing.
        grace = setTimeout(() => body.destroy(), ANSWERED_STREAM_GRACE_MS);
        grace.unref();
      }
      onMessage(m);
    },
    // A comment (a keep-alive) ends what was buffered as surely as an event does.
    onComment() {
      dispatched = true;
    },
  });
  // undici hands over Buffers; a streaming decoder keeps a multi-byte character split across chunks intact.
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      const buf = chunk as Uint8Array;
      sinceEvent += buf.length;
      dispatched = false;
      parser.feed(decoder.decode(buf, { stream: true }));
      // An event ended in this chunk: what is buffered now is at most this chunk's rest.
      if (dispatched) sinceEvent = 0;
      if (sinceEvent > limit) {
        body.destroy();
        throw new ResponseTooLargeError(limit);
      }
    }
    parser.feed(decoder.decode());
  } catch (err) {
    if (grace && body.destroyed) return; // we ended it ourselves, after the answer
    throw err;
  } finally {
    clearTimeout(grace);
  }
}
