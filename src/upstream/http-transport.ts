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

export interface PostOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** The connection pools to one upstream URL, shared by every MCP session the gateway holds with it. */
export class HttpPool {
  /** Requests: bounded, kept alive, reused call after call. Replaced (not mutated) by useTls. */
  pool: Pool;
  /** Long-lived GET streams, apart from requests: each holds a connection for its whole life, and sharing one
   *  bounded pool would let a few hundred idle streams starve every call. */
  streams: Pool;
  readonly path: string;

  constructor(
    readonly url: URL,
    readonly staticHeaders: Record<string, string>,
    private readonly connections = 128,
  ) {
    this.pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
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
    if (res.statusCode === 202) {
      await res.body.dump();
      return;
    }
    if (res.statusCode >= 400) {
      const text = (await res.body.text()).slice(0, 300);
      throw new HttpStatusError(res.statusCode, `HTTP ${res.statusCode}${text ? `: ${text}` : ''}`);
    }
    const ctype = String(res.headers['content-type'] ?? '');
    if (ctype.includes('text/event-stream')) {
      await readSse(res.body, onMessage);
      return;
    }
    const text = await res.body.text();
    if (text === '') return;
    const parsed = JSON.parse(text) as JsonRpcMessage | JsonRpcMessage[];
    if (Array.isArray(parsed)) parsed.forEach(onMessage);
    else onMessage(parsed);
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
    if (res.statusCode >= 400) {
      await res.body.dump();
      throw new HttpStatusError(res.statusCode, `HTTP ${res.statusCode}`);
    }
    onOpen?.();
    await readSse(res.body, onMessage);
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

async function readSse(body: Dispatcher.ResponseData['body'], onMessage: (m: JsonRpcMessage) => void): Promise<void> {
  const parser = createParser({
    onEvent(ev) {
      if (ev.event !== undefined && ev.event !== 'message') return;
      if (ev.data === '') return;
      try {
        onMessage(JSON.parse(ev.data) as JsonRpcMessage);
      } catch {
        // An unparseable event cannot be matched to a request; the request then times out loudly.
      }
    },
  });
  // undici hands over Buffers; a streaming decoder keeps a multi-byte character split across chunks intact.
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  parser.feed(decoder.decode());
}
