/**
 * MCP 2026-07-28 header/body binding (SEP-2243): a load balancer may route on `Mcp-Method` and `Mcp-Name` while
 * the gateway acts on the body, so the two must agree or the request is refused (400, -32020 HeaderMismatch).
 * Values may use the Base64 sentinel `=?base64?…?=`, decoded before comparing. `Mcp-Param-*` headers the gateway
 * does not interpret are left alone (and forwarded as they are by nothing here: the gateway re-derives upstream
 * headers from the body it validated).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Methods whose `Mcp-Name` header mirrors a body field. */
const NAME_SOURCE: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

/** A header value as the client meant it: the sentinel decoded (strict Base64 of UTF-8), else as sent. */
export function decodeHeaderValue(v: string): string | undefined {
  const m = SENTINEL.exec(v);
  if (!m) return v;
  const bytes = Buffer.from(m[1]!, 'base64');
  // Buffer.from ignores bad padding and characters: re-encode to insist on the canonical form.
  if (bytes.toString('base64') !== m[1]) return undefined;
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

/** Returns the mismatch to report, or null when headers and body agree. */
export function checkHeaderBinding(headers: IncomingHttpHeaders, method: string, params: Record<string, unknown>): string | null {
  const hm = headers['mcp-method'];
  if (typeof hm !== 'string' || hm === '') return 'Header mismatch: the Mcp-Method header is required';
  if (hm !== method) return `Header mismatch: Mcp-Method header value '${hm.slice(0, 100)}' does not match body value '${method.slice(0, 100)}'`;
  const meta = (params._meta ?? {}) as Record<string, unknown>;
  const bodyVersion = meta['io.modelcontextprotocol/protocolVersion'];
  if (bodyVersion !== undefined && bodyVersion !== headers['mcp-protocol-version']) {
    return `Header mismatch: MCP-Protocol-Version header does not match _meta io.modelcontextprotocol/protocolVersion`;
  }
  const source = NAME_SOURCE[method];
  if (!source) return null;
  const hn = headers['mcp-name'];
  const body = params[source];
  if (typeof hn !== 'string' || hn === '') return `Header mismatch: the Mcp-Name header is required for ${method}`;
  const decoded = decodeHeaderValue(hn);
  if (decoded === undefined) return 'Header mismatch: Mcp-Name is not valid Base64-sentinel UTF-8';
  if (decoded !== body) return `Header mismatch: Mcp-Name header value '${decoded.slice(0, 100)}' does not match body value '${String(body).slice(0, 100)}'`;
  return null;
}
