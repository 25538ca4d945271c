/**
 * Request guards that run before authentication: DNS-rebinding protection (Host and Origin), media types and the
 * MCP-Protocol-Version header. Each returns an error to send, or null to go on.
 */
import type { Request } from 'express';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../protocol/mcp.js';

export interface GuardFailure {
  status: number;
  message: string;
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.includes(host) || host.startsWith('127.');
}

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  const i = hostHeader.lastIndexOf(':');
  return i === -1 ? hostHeader : hostHeader.slice(0, i);
}

export interface OriginPolicy {
  allowedOrigins: string[];
  /** undefined: any host. */
  allowedHosts: string[] | undefined;
  loopbackOnly: boolean;
}

/**
 * MCP transport spec (2025-06-18 and 2025-11-25): "Servers MUST validate the Origin header on all incoming
 * connections to prevent DNS rebinding attacks"; "If the Origin header is present and invalid, servers MUST
 * respond with HTTP 403 Forbidden". A loopback-bound gateway also refuses foreign Host names, which is what a
 * rebinding attack changes.
 */
export function checkHostAndOrigin(req: Request, p: OriginPolicy): GuardFailure | null {
  const host = req.headers.host ?? '';
  if (p.allowedHosts) {
    const name = hostnameOf(host).toLowerCase();
    const ok = p.allowedHosts.some((h) => h.toLowerCase() === host.toLowerCase() || h.toLowerCase() === name);
    if (!ok) return { status: 403, message: 'Forbidden: Host not allowed' };
  }
  const origin = req.headers.origin;
  if (origin === undefined) return null;
  if (p.allowedOrigins.includes(origin)) return null;
  if (p.loopbackOnly) {
    try {
      const u = new URL(origin);
      if ((u.protocol === 'http:' || u.protocol === 'https:') && isLoopback(u.hostname.toLowerCase())) return null;
    } catch {
      // fall through: an unparseable Origin is not allowed
    }
  }
  return { status: 403, message: 'Forbidden: Origin not allowed' };
}

/** MCP transport spec: "The client MUST include an Accept header, listing both application/json and text/event-stream". */
export function checkPostHeaders(req: Request): GuardFailure | null {
  const accept = req.headers.accept ?? '';
  if (!(accept.includes('application/json') || accept.includes('*/*')) || !(accept.includes('text/event-stream') || accept.includes('*/*'))) {
    return { status: 406, message: 'Not Acceptable: client must accept both application/json and text/event-stream' };
  }
  const ctype = req.headers['content-type'] ?? '';
  if (!ctype.toLowerCase().startsWith('application/json')) {
    return { status: 415, message: 'Unsupported Media Type: Content-Type must be application/json' };
  }
  return null;
}

/**
 * MCP transport spec: an invalid or unsupported MCP-Protocol-Version gets 400; without the header a server
 * assumes 2025-03-26.
 */
export function checkProtocolVersion(req: Request): GuardFailure | null {
  const v = req.headers['mcp-protocol-version'];
  if (v === undefined) return null;
  if (typeof v === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(v)) return null;
  return { status: 400, message: `Bad Request: unsupported MCP-Protocol-Version ${String(v).slice(0, 40)} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})` };
}
