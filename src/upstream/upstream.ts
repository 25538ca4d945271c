/**
 * One upstream MCP server as the gateway sees it: a single long-lived MCP session shared by every client,
 * request/response matching by gateway-assigned ids, the tool list, and (for STDIO) a supervised process.
 */
import { EventEmitter } from 'node:events';
import type { ServerConfig } from '../config/index.js';
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../errors/index.js';
import type { JsonRpcErrorBody, JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from '../protocol/json-rpc.js';
import { LATEST_PROTOCOL_VERSION, type Tool } from '../protocol/mcp.js';
import type { Logger } from '../telemetry/logger.js';
import { HttpChannel, StdioChannel, type Channel } from './channel.js';
import { HttpStatusError } from './http-transport.js';

export type UpstreamState = 'not_ready' | 'ok' | 'error';

export type UpstreamAnswer = { ok: true; result: unknown } | { ok: false; error: JsonRpcErrorBody };

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Receives upstream notifications/progress for this request, with the caller's own progress token restored. */
  onProgress?: (params: Record<string, unknown>) => void;
}

interface Pending {
  resolve: (a: UpstreamAnswer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  onProgress?: (params: Record<string, unknown>) => void;
  clientProgressToken?: string | number;
}

const GATEWAY_INFO = { name: 'portcullis', version: '0.1.0' };

export class Upstream extends EventEmitter {
  readonly id: string;
  readonly kind: 'http' | 'stdio';
  private channel: Channel;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly progress = new Map<string, Pending>();
  private stateValue: UpstreamState = 'not_ready';
  private ready: Promise<void> | null = null;
  private stopped = false;
  private restartDelay: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastStart = 0;
  restarts = 0;
  tools: Tool[] = [];
  serverInfo: Record<string, unknown> = {};
  instructions: string | undefined;
  capabilities: Record<string, unknown> = {};
  protocolVersion = LATEST_PROTOCOL_VERSION;
  lastError: string | null = null;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    super();
    this.id = config.id;
    this.kind = config.url ? 'http' : 'stdio';
    this.channel = this.kind === 'http' ? new HttpChannel(config, log) : new StdioChannel(config, log);
    this.restartDelay = config.restart.initialDelayMs;
  }

  get state(): UpstreamState {
    return this.stateValue;
  }

  get pid(): number | null {
    return this.channel instanceof StdioChannel ? this.channel.pid : null;
  }

  /** Connects and lists tools. Never throws: a failed start is retried in the background. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.ready ??= this.doConnect().catch((err: unknown) => {
      this.ready = null;
      this.stateValue = 'error';
      this.lastError = (err as Error).message;
      this.log.warn('upstream unavailable', { server: this.id, error: this.lastError });
      // A half-started child (e.g. it never answered initialize) must not linger beside the next attempt.
      if (this.kind === 'stdio') void this.channel.close().catch(() => undefined);
      this.scheduleRestart();
      throw err;
    });
    return this.ready;
  }

  private async doConnect(): Promise<void> {
    this.lastStart = Date.now();
    await this.channel.start(
      (m) => this.onMessage(m),
      (reason) => this.onChannelClose(reason),
    );
    const init = await this.send('initialize', {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: GATEWAY_INFO,
    }, { timeoutMs: 15_000 }, true);
    if (!init.ok) throw new Error(`initialize refused: ${init.error.message}`);
    const r = init.result as { protocolVersion?: string; capabilities?: Record<string, unknown>; serverInfo?: Record<string, unknown>; instructions?: unknown };
    this.instructions = typeof r.instructions === 'string' ? r.instructions : undefined;
    this.protocolVersion = r.protocolVersion ?? LATEST_PROTOCOL_VERSION;
    this.capabilities = r.capabilities ?? {};
    this.serverInfo = r.serverInfo ?? {};
    this.channel.setProtocolVersion(this.protocolVersion);
    await this.channel.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.tools = await this.listAllTools(true);
    this.stateValue = 'ok';
    this.lastError = null;
    this.log.info('upstream connected', { server: this.id, transport: this.kind, tools: this.tools.length, protocolVersion: this.protocolVersion, pid: this.pid ?? undefined });
    if (this.channel instanceof HttpChannel) this.channel.listen();
    this.emit('tools', this.tools);
  }

  private async listAllTools(internal = false): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const a = await this.send('tools/list', cursor ? { cursor } : {}, { timeoutMs: 30_000 }, internal);
      if (!a.ok) throw new Error(`tools/list refused: ${a.error.message}`);
      const r = a.result as { tools?: Tool[]; nextCursor?: string };
      for (const t of r.tools ?? []) if (t && typeof t.name === 'string') tools.push(t);
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
    }
    return tools;
  }

  /** Re-reads the tool list (on notifications/tools/list_changed). */
  async refreshTools(): Promise<void> {
    try {
      this.tools = await this.listAllTools();
      this.emit('tools', this.tools);
    } catch (err) {
      this.log.warn('tool list refresh failed', { server: this.id, error: (err as Error).message });
    }
  }

  /** Sends a request to the upstream and resolves with its answer (a result or the upstream's JSON-RPC error). */
  async request(method: string, params: Record<string, unknown> | undefined, opts: RequestOptions = {}): Promise<UpstreamAnswer> {
    if (this.stopped) throw new UpstreamUnavailableError(this.id, 'gateway is shutting down');
    if (this.stateValue !== 'ok') {
      try {
        await this.connect();
      } catch {
        throw new UpstreamUnavailableError(this.id, this.lastError ?? 'not connected');
      }
    }
    try {
      return await this.send(method, params, opts);
    } catch (err) {
      // An HTTP upstream that forgot our session (404) gets one fresh initialize and one retry.
      if (err instanceof HttpStatusError && err.status === 404 && this.kind === 'http') {
        this.log.info('upstream session expired; re-initializing', { server: this.id });
        this.ready = null;
        this.stateValue = 'not_ready';
        await this.connect().catch(() => undefined);
        if ((this.stateValue as UpstreamState) === 'ok') return this.send(method, params, opts);
      }
      throw err;
    }
  }

  private send(method: string, params: Record<string, unknown> | undefined, opts: RequestOptions, internal = false): Promise<UpstreamAnswer> {
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.config.timeoutMs;
    let outParams = params;
    let progressKey: string | undefined;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const clientToken = meta?.progressToken as string | number | undefined;
    if (clientToken !== undefined && opts.onProgress) {
      // Client progress tokens are only unique per client; the shared upstream session needs gateway-unique ones.
      progressKey = `pc-${this.id}-${id}`;
      outParams = { ...params, _meta: { ...meta, progressToken: progressKey } };
    }
    const message: JsonRpcRequest = { jsonrpc: '2.0', id, method, params: outParams };
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
          reject(e);
        },
        timer: setTimeout(() => {
          entry.reject(new UpstreamTimeoutError(this.id, timeoutMs));
          this.cancel(id, 'timeout');
        }, timeoutMs),
        onProgress: opts.onProgress,
        clientProgressToken: clientToken,
      };
      const onAbort = () => {
        entry.reject(new UpstreamUnavailableError(this.id, 'request cancelled'));
        this.cancel(id, 'cancelled by client');
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      if (progressKey) this.progress.set(progressKey, entry);
      this.channel.send(message, { headers: opts.headers }).catch((err: unknown) => {
        if (!this.pending.has(id)) return;
        if (err instanceof HttpStatusError && err.status === 404 && !internal) return entry.reject(err);
        entry.reject(new UpstreamUnavailableError(this.id, (err as Error).message, err));
      });
    });
  }

  /** Tells the upstream to stop working on a request we no longer wait for (MCP cancellation). */
  private cancel(id: number, reason: string): void {
    this.channel.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } }).catch(() => undefined);
  }

  private onMessage(m: JsonRpcMessage): void {
    if ('method' in m) {
      if ('id' in m) return this.answerServerRequest(m as JsonRpcRequest);
      if (m.method === 'notifications/progress') {
        const p = (m.params ?? {}) as Record<string, unknown>;
        const entry = this.progress.get(String(p.progressToken));
        if (entry?.onProgress) entry.onProgress({ ...p, progressToken: entry.clientProgressToken });
        return;
      }
      if (m.method === 'notifications/tools/list_changed') {
        void this.refreshTools();
        return;
      }
      this.emit('notification', m);
      return;
    }
    const r = m as JsonRpcResponse;
    if (typeof r.id !== 'number') return;
    const entry = this.pending.get(r.id);
    if (!entry) return;
    entry.resolve(r.error ? { ok: false, error: r.error } : { ok: true, result: r.result });
  }

  /** Requests from the upstream: ping is answered here; the rest have no client to go to on a shared session. */
  private answerServerRequest(req: JsonRpcRequest): void {
    const reply: JsonRpcResponse =
      req.method === 'ping'
        ? { jsonrpc: '2.0', id: req.id, result: {} }
        : { jsonrpc: '2.0', id: req.id, error: { code: -32601, message: `Method not supported by the gateway: ${req.method}` } };
    this.channel.send(reply).catch(() => undefined);
  }

  private onChannelClose(reason: string): void {
    const wasOk = this.stateValue === 'ok';
    this.stateValue = this.stopped ? 'not_ready' : 'error';
    this.ready = null;
    this.lastError = reason;
    // In-flight calls on a dead process can never be answered: fail them now, clearly.
    for (const entry of [...this.pending.values()]) entry.reject(new UpstreamUnavailableError(this.id, `${reason} during the call`));
    if (this.stopped) return;
    this.log.warn('upstream connection lost', { server: this.id, reason, wasOk });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer || this.kind !== 'stdio') return;
    // A process that ran for a while before dying starts again quickly; a crash loop backs off exponentially.
    if (Date.now() - this.lastStart > 30_000) this.restartDelay = this.config.restart.initialDelayMs;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(Math.max(this.restartDelay * 2, 1), this.config.restart.maxDelayMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.log.info('restarting stdio upstream', { server: this.id, attempt: this.restarts, delayMs: delay });
      void this.connect().catch(() => undefined);
    }, delay);
    this.restartTimer.unref();
  }

  /** Ends the upstream session: DELETE for HTTP, stdin close then signals for STDIO. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    for (const entry of [...this.pending.values()]) entry.reject(new UpstreamUnavailableError(this.id, 'gateway is shutting down'));
    await this.channel.close().catch(() => undefined);
    this.stateValue = 'not_ready';
  }
}
