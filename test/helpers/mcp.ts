/** Talking to the gateway: the SDK's own Client over Streamable HTTP, and raw HTTP (node:http) for protocol-level cases. */
import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

export const PROTOCOL_VERSION = '2025-06-18';

/** An SDK client connected to `url` with the bearer token on every request. */
export async function connectClient(url: string, token: string | null, name = 'it-client'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

/** Runs `fn` and returns the McpError it throws (fails if it does not throw one). */
export async function mcpError(fn: () => Promise<unknown>): Promise<McpError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof McpError) return e;
    throw new Error(`expected an McpError, got ${String((e as Error)?.stack ?? e)}`);
  }
  throw new Error('expected an McpError, but the call succeeded');
}

/** The text of the first text content item of a CallToolResult. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  const t = content.find((c) => c.type === 'text');
  if (!t || typeof t.text !== 'string') throw new Error(`no text content in ${JSON.stringify(result)}`);
  return t.text;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON body, or the data of the first SSE `message` event, or undefined. */
  json: any;
}

export interface RawOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** One HTTP request with full control over headers (Host included) and body. */
export function raw(url: string, opts: RawOptions = {}): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: opts.headers ?? {}, timeout: opts.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseBody(text, String(res.headers['content-type'] ?? '')) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

function parseBody(text: string, ctype: string): any {
  if (text === '') return undefined;
  if (ctype.includes('text/event-stream')) {
    for (const block of text.split(/\n\n/)) {
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      try {
        const m = JSON.parse(data);
        if (m && 'id' in m) return m;
      } catch {
        // not JSON
      }
    }
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Headers a Streamable HTTP client sends on a POST. */
export function postHeaders(token: string | null, sessionId?: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...extra,
  };
  if (token) h.authorization = `Bearer ${token}`;
  if (sessionId) h['mcp-session-id'] = sessionId;
  return h;
}

/** POSTs one JSON-RPC message (object, or a raw string body). */
export function rpc(url: string, token: string | null, sessionId: string | undefined, message: unknown, extra: Record<string, string> = {}): Promise<RawResponse> {
  return raw(url, { method: 'POST', headers: postHeaders(token, sessionId, extra), body: typeof message === 'string' ? message : JSON.stringify(message) });
}

/** initialize + notifications/initialized over raw HTTP; returns the session id. */
export async function rawSession(url: string, token: string | null, protocolVersion = PROTOCOL_VERSION): Promise<string> {
  const init = await rpc(url, token, undefined, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'it-raw', version: '1.0.0' } },
  });
  if (init.status !== 200) throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const sid = init.headers['mcp-session-id'];
  if (typeof sid !== 'string') throw new Error('initialize returned no Mcp-Session-Id');
  const n = await rpc(url, token, sid, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-protocol-version': protocolVersion });
  if (n.status !== 202) throw new Error(`notifications/initialized failed: ${n.status} ${n.text}`);
  return sid;
}

let nextId = 1;
/** A tools/call over raw HTTP on an existing session. */
export function rawCall(url: string, token: string | null, sessionId: string, name: string, args: Record<string, unknown> = {}): Promise<RawResponse> {
  return rpc(url, token, sessionId, { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } }, { 'mcp-protocol-version': PROTOCOL_VERSION });
}

/** A tools/list over raw HTTP on an existing session. */
export function rawList(url: string, token: string | null, sessionId: string): Promise<RawResponse> {
  return rpc(url, token, sessionId, { jsonrpc: '2.0', id: nextId++, method: 'tools/list', params: {} }, { 'mcp-protocol-version': PROTOCOL_VERSION });
}

/** Parses `Bearer k="v", k2="v2"` into its parameters. */
export function parseBearerChallenge(header: string | string[] | undefined): Record<string, string> | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer\s+(.*)$/i.exec(header.trim());
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_-]*)="((?:[^"\\]|\\.)*)"\s*(?:,\s*|$)/gy;
  let pm: RegExpExecArray | null;
  let consumed = 0;
  while ((pm = re.exec(m[1]!)) !== null) {
    params[pm[1]!] = pm[2]!.replace(/\\(.)/g, '$1');
    consumed = re.lastIndex;
  }
  if (consumed !== m[1]!.length) return null; // trailing garbage: the header does not parse
  return params;
}
