/**
 * The STDIO bridge: lets an agent host that can only launch commands (as desktop hosts do) reach the gateway.
 * It relays raw JSON-RPC between its stdin/stdout and the gateway's Streamable HTTP endpoint in both directions,
 * so sampling, elicitation, progress and notifications pass as they are, under the identity of its token.
 */
import { readFileSync } from 'node:fs';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { UPSTREAM_UNAVAILABLE } from '../errors/codes.js';

export interface BridgeOptions {
  url: string;
  /** File holding the bearer token; re-read on every request so a rotated token is picked up. */
  tokenFile?: string;
  /** Diagnostics go to stderr; stdout belongs to the protocol. Never given the token. */
  log: (msg: string) => void;
}

export async function runBridge(opts: BridgeOptions): Promise<void> {
  const readToken = (): string | undefined => {
    if (!opts.tokenFile) return undefined;
    return readFileSync(opts.tokenFile, 'utf8').trim();
  };
  // Fail at start, not at the first request, when the token file is unreadable: one line, no stack trace.
  try {
    readToken();
  } catch (err) {
    throw new BridgeStartError(`cannot read the token file ${opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }

  // A per-request fetch: adds the token and does not hang every request on one session-wide AbortSignal.
  const fetchWithToken: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    const token = readToken();
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };

  const http = new StreamableHTTPClientTransport(new URL(opts.url), { fetch: fetchWithToken });
  const stdio = new StdioServerTransport();
  let closing = false;
  const initializeIds = new Set<string | number>();

  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    opts.log(`bridge closing: ${why}`);
    // End the gateway session politely (DELETE), then stop.
    await http.terminateSession().catch(() => undefined);
    await http.close().catch(() => undefined);
    await stdio.close().catch(() => undefined);
  };

  stdio.onmessage = (msg: JSONRPCMessage) => {
    if ('method' in msg && msg.method === 'initialize' && 'id' in msg) initializeIds.add(msg.id);
    http.send(msg).catch((err: unknown) => {
      const text = (err as Error).message.replace(/Bearer\s+\S+/g, 'Bearer [redacted]');
      opts.log(`gateway request failed: ${text}`);
      // A request the gateway never answered must still get an answer, or the host waits forever.
      if ('id' in msg && 'method' in msg) {
        void stdio.send({ jsonrpc: '2.0', id: msg.id, error: { code: UPSTREAM_UNAVAILABLE, message: explainFailure(err, text, opts.url) } });
      }
    });
  };
  http.onmessage = (msg: JSONRPCMessage) => {
    // Later requests must carry the negotiated MCP-Protocol-Version header.
    if ('result' in msg && 'id' in msg && initializeIds.delete(msg.id)) {
      const v = (msg.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof v === 'string') http.setProtocolVersion(v);
    }
    void stdio.send(msg);
  };
  http.onerror = (err: Error) => opts.log(`gateway stream: ${err.message.replace(/Bearer\s+\S+/g, 'Bearer [redacted]')}`);
  stdio.onclose = () => void shutdown('stdin closed');
  stdio.onerror = (err: Error) => opts.log(`stdio: ${err.message}`);

  await http.start();
  await stdio.start();
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.stdin.once('end', () => void shutdown('stdin ended').then(done));
    process.once('SIGTERM', () => void shutdown('SIGTERM').then(done));
    process.once('SIGINT', () => void shutdown('SIGINT').then(done));
  });
}

/** A bridge that cannot start says why in one line (the CLI prints it without a stack trace). */
export class BridgeStartError extends Error {}

/**
 * What the host's user reads when the gateway refused or could not be reached: a 401 is not "unreachable". The
 * SDK's error carries the HTTP status (`code`) for HTTP failures.
 */
function explainFailure(err: unknown, text: string, url: string): string {
  const status = (err as { code?: unknown }).code;
  switch (status) {
    case 401:
      return `gateway refused the token (HTTP 401): the token in --token-file is missing, expired or not for this gateway (${url})`;
    case 403:
      return `gateway refused the request (HTTP 403): the token lacks a required scope, or the Origin/Host is not allowed`;
    case 404:
      return `gateway answered HTTP 404: ${url} is not an MCP endpoint of this gateway (expected …/mcp or …/mcp/<serverId>), or the session ended`;
    default:
      return typeof status === 'number' ? `gateway answered HTTP ${status}: ${text}` : `gateway unreachable: ${text}`;
  }
}
