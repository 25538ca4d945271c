/**
 * `subscriptions/listen` streams (MCP 2026-07-28): each a long-lived SSE answer to one POST, acknowledged first,
 * then carrying only the change notifications its filter asked for, each tagged with the subscription id (the
 * JSON-RPC id of the listen request). It replaces the 2025 GET stream for stateless clients.
 */
import type { Response } from 'express';
import type { JsonRpcId } from '../protocol/json-rpc.js';

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

/** Filter field → the notification it lets through. */
const FILTERS: Record<string, string> = {
  toolsListChanged: 'notifications/tools/list_changed',
  promptsListChanged: 'notifications/prompts/list_changed',
  resourcesListChanged: 'notifications/resources/list_changed',
};

interface Listener {
  id: JsonRpcId;
  serverId: string | null;
  methods: Set<string>;
  res: Response;
}

export class Listeners {
  private readonly all = new Set<Listener>();

  get size(): number {
    return this.all.size;
  }

  /** Opens the stream and acknowledges the honoured part of the filter; `expiresInMs` ends it with the token. */
  open(res: Response, id: JsonRpcId, serverId: string | null, filter: Record<string, unknown>, expiresInMs: number | undefined): void {
    const honoured: Record<string, unknown> = {};
    const methods = new Set<string>();
    for (const [field, method] of Object.entries(FILTERS)) {
      if (filter[field] === true) {
        honoured[field] = true;
        methods.add(method);
      }
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const l: Listener = { id, serverId, methods, res };
    this.all.add(l);
    write(res, { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: { [SUBSCRIPTION_ID]: id }, notifications: honoured } });
    // Intermediaries drop silent connections; a comment line keeps the stream open.
    const keepAlive = setInterval(() => res.write(':\n\n'), 25_000);
    keepAlive.unref();
    const expire = expiresInMs === undefined ? undefined : setTimeout(() => this.end(l), expiresInMs);
    expire?.unref();
    res.on('close', () => {
      clearInterval(keepAlive);
      if (expire) clearTimeout(expire);
      this.all.delete(l);
    });
  }

  /** Sends a change to every stream on an affected endpoint that asked for it (serverId null: every endpoint). */
  publish(serverId: string | null, method: string): void {
    for (const l of this.all) {
      if (!l.methods.has(method)) continue;
      if (serverId !== null && l.serverId !== null && l.serverId !== serverId) continue;
      write(l.res, { jsonrpc: '2.0', method, params: { _meta: { [SUBSCRIPTION_ID]: l.id } } });
    }
  }

  /** Graceful closure (shutdown, token expiry): the listen request's own result, then the end of the stream. */
  end(l: Listener): void {
    this.all.delete(l);
    if (l.res.writableEnded) return;
    l.res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: l.id, result: { resultType: 'complete', _meta: { [SUBSCRIPTION_ID]: l.id } } })}\n\n`);
  }

  closeAll(): void {
    for (const l of [...this.all]) this.end(l);
  }
}

function write(res: Response, message: unknown): void {
  if (!res.writableEnded) res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}
