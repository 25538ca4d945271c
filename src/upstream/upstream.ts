/**
 * One configured upstream server: the catalog session the gateway keeps with it (tools/list, list_changed), the
 * sessions opened for clients, the shared HTTP connection pool, and for STDIO the supervised child process.
 * HTTP upstreams get one MCP session per client session, so upstream-initiated requests (sampling, elicitation)
 * and per-session state (log level, subscriptions) stay with the client they belong to. A STDIO process is one
 * session by nature and is shared.
 */
import { METHOD_NOT_FOUND } from '../errors/codes.js';
import { EventEmitter } from 'node:events';
import type { ServerConfig } from '../config/index.js';
import { UpstreamUnavailableError } from '../errors/index.js';
import type { JsonRpcNotification } from '../protocol/json-rpc.js';
import { LATEST_PROTOCOL_VERSION, type Tool } from '../protocol/mcp.js';
import type { Logger } from '../telemetry/logger.js';
import { HttpChannel, StdioChannel, type Channel } from './channel.js';
import { HttpPool } from './http-transport.js';
import type { ConnectionOptions } from 'node:tls';
import { McpSession, type Relay, type UpstreamAnswer } from './mcp-session.js';
import { compileScrubber, type Scrubber } from '../redaction/scrub-secrets.js';

export type UpstreamState = 'not_ready' | 'ok' | 'error';

const GATEWAY_INFO = { name: 'portcullis', version: '0.1.0' };

/** The gateway's own initialize parameters, used for the catalog session. */
const GATEWAY_INIT = { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: GATEWAY_INFO };

/** Notifications that say "something changed, ask again": safe to tell every client of the server. */
const BROADCASTABLE = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

export class Upstream extends EventEmitter {
  readonly id: string;
  readonly kind: 'http' | 'stdio';
  private readonly pool: HttpPool | undefined;
  private control: McpSession | null = null;
  private stateValue: UpstreamState = 'not_ready';
  private ready: Promise<McpSession> | null = null;
  private stopped = false;
  private restartDelay: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private lastStart = 0;
  private envProvider: (() => Promise<Record<string, string>>) | undefined;
  private readonly clientSessions = new Set<McpSession>();
  private spawnCredentials: string[][] = [];
  /** Scrubs the credentials in the STDIO process's environment; null when it has none. */
  credentialScrubber: Scrubber | null = null;
  restarts = 0;
  tools: Tool[] = [];
  serverInfo: Record<string, unknown> = {};
  capabilities: Record<string, unknown> = {};
  instructions: string | undefined;
  protocolVersion = LATEST_PROTOCOL_VERSION;
  lastError: string | null = null;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    super();
    this.id = config.id;
    this.kind = config.url ? 'http' : 'stdio';
    if (config.url) {
      this.pool = new HttpPool(new URL(config.url), config.headers ?? {}, {
        connections: config.maxConnections ?? 128,
        maxResponseBytes: config.maxResponseBytes ?? 16 * 1024 * 1024,
      });
    }
    this.restartDelay = config.restart.initialDelayMs;
  }

  get state(): UpstreamState {
    return this.stateValue;
  }

  /** Open MCP sessions with this server: the catalog session plus, over HTTP, one per client session (metrics). */
  get connections(): number {
    return (this.control && !this.control.isClosed ? 1 : 0) + this.clientSessions.size;
  }

  get pid(): number | null {
    const ch = this.control?.channel;
    return ch instanceof StdioChannel ? ch.pid : null;
  }

  /** TLS options (CA, client certificate) for new connections to an HTTP upstream; calls in flight are not cut. */
  useTls(tls: ConnectionOptions): void {
    this.pool?.useTls(tls);
  }

  /** Environment for the next STDIO spawn (e.g. leased credentials); called before every start. */
  setEnvProvider(fn: () => Promise<Record<string, string>>): void {
    this.envProvider = fn;
  }

  /** Connects and lists tools. Never throws: a failed start is retried in the background. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect().catch(() => undefined);
  }

  private async newChannel(): Promise<Channel> {
    if (this.pool) return new HttpChannel(this.pool, this.log);
    const env = this.envProvider ? await this.envProvider() : {};
    this.noteSpawnCredentials(Object.values(env));
    return new StdioChannel(this.config, this.log, env);
  }

  /**
   * A STDIO child's injected environment (its credential) may be echoed in anything it sends: what clients get
   * from it outside tools/call (which the pipeline scrubs with the call's own credential) is scrubbed with it.
   * The previous process's values are kept too, since it finishes its calls while draining.
   */
  private noteSpawnCredentials(values: string[]): void {
    if (values.length === 0) return;
    this.spawnCredentials = [values, ...this.spawnCredentials].slice(0, 2);
    this.credentialScrubber = compileScrubber(this.spawnCredentials.flat());
  }

  private connect(): Promise<McpSession> {
    this.ready ??= this.openControl().catch((err: unknown) => {
      this.ready = null;
      this.stateValue = 'error';
      this.lastError = (err as Error).message;
      this.log.warn('upstream unavailable', { server: this.id, error: this.lastError });
      this.scheduleRestart();
      throw err;
    });
    return this.ready;
  }

  private async openControl(): Promise<McpSession> {
    this.lastStart = Date.now();
    const session = new McpSession(this.id, await this.newChannel(), this.config.timeoutMs, this.kind === 'stdio');
    session.hooks = {
      unrelated: this.controlRelay(),
      onClose: (reason) => this.onControlClose(session, reason),
    };
    try {
      const r = await session.open(GATEWAY_INIT);
      // The catalog session always listens: it is how the gateway hears tools/list_changed.
      void session.listen();
      this.protocolVersion = typeof r.protocolVersion === 'string' ? r.protocolVersion : LATEST_PROTOCOL_VERSION;
      this.capabilities = (r.capabilities as Record<string, unknown>) ?? {};
      this.serverInfo = (r.serverInfo as Record<string, unknown>) ?? {};
      this.instructions = typeof r.instructions === 'string' ? r.instructions : undefined;
      this.tools = await this.listAllTools(session);
    } catch (err) {
      // A half-started child (one that never answered initialize) must not linger beside the next attempt.
      await session.close().catch(() => undefined);
      throw err;
    }
    const old = this.control;
    this.control = session;
    this.stateValue = 'ok';
    this.lastError = null;
    this.log.info('upstream connected', { server: this.id, transport: this.kind, tools: this.tools.length, protocolVersion: this.protocolVersion, pid: this.pid ?? undefined });
    this.emit('tools', this.tools);
    if (old && old !== session) void this.drain(old);
    return session;
  }

  /** Upstream-initiated messages on the catalog session that no request claims. */
  private controlRelay(): Relay {
    return {
      request: async (method) => ({ ok: false, error: { code: METHOD_NOT_FOUND, message: `No client to answer ${method}` } }),
      notify: (n: JsonRpcNotification) => this.onUnclaimedNotification(n),
    };
  }

  /** Called for list_changed seen on any session of this server, including clients' own. */
  onUnclaimedNotification(n: JsonRpcNotification): void {
    if (n.method === 'notifications/tools/list_changed') this.scheduleRefresh();
    else if (BROADCASTABLE.has(n.method)) this.emit('broadcast', n);
  }

  private scheduleRefresh(): void {
    // Several sessions report the same change; one re-read serves them all.
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshTools();
    }, 50);
    this.refreshTimer.unref();
  }

  private async listAllTools(session: McpSession): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const a = await session.request('tools/list', cursor ? { cursor } : {}, { timeoutMs: 30_000 });
      if (!a.ok) throw new Error(`tools/list refused: ${a.error.message}`);
      const r = (a.result ?? {}) as { tools?: unknown; nextCursor?: unknown };
      // A result that is not a list fails the read, so the catalog keeps the last good list.
      if (r.tools !== undefined && !Array.isArray(r.tools)) throw new Error('tools/list result: tools is not an array');
      // Every entry goes on unchecked: the catalog checks each tool and the list's bounds, and logs what it drops.
      for (const t of (r.tools ?? []) as Tool[]) tools.push(t);
      if (typeof r.nextCursor !== 'string' || r.nextCursor === '') break;
      cursor = r.nextCursor;
    }
    return tools;
  }

  /** Re-reads the tool list (on notifications/tools/list_changed). */
  async refreshTools(): Promise<void> {
    const session = this.control;
    if (!session || this.stateValue !== 'ok') return;
    try {
      this.tools = await this.listAllTools(session);
      this.emit('tools', this.tools);
    } catch (err) {
      this.log.warn('tool list refresh failed', { server: this.id, error: (err as Error).message });
    }
  }

  /** The catalog session, connecting first if needed. */
  async controlSession(): Promise<McpSession> {
    if (this.stopped) throw new UpstreamUnavailableError(this.id, 'gateway is shutting down');
    if (this.control && this.stateValue === 'ok') return this.control;
    // While a restart is scheduled, calls fail fast: connecting on demand would let a stream of calls turn a
    // crash-looping process into a fork loop and defeat the backoff.
    if (this.restartTimer) throw new UpstreamUnavailableError(this.id, `${this.lastError ?? 'down'}; restarting with backoff`);
    try {
      return await this.connect();
    } catch {
      throw new UpstreamUnavailableError(this.id, this.lastError ?? 'not connected');
    }
  }

  /**
   * A session for one client: a fresh MCP session initialized with the client's own parameters (HTTP), or the
   * shared process session (STDIO).
   */
  async openClientSession(initParams: Record<string, unknown>, relay: Relay): Promise<McpSession> {
    if (this.kind === 'stdio') return this.controlSession();
    if (this.stopped) throw new UpstreamUnavailableError(this.id, 'gateway is shutting down');
    const session = new McpSession(this.id, new HttpChannel(this.pool!, this.log), this.config.timeoutMs, false);
    session.hooks = {
      unrelated: {
        request: (method, params) => relay.request(method, params),
        notify: (n) => {
          // A changed tool list re-reads the catalog, which then tells every client; the rest is this client's.
          if (n.method === 'notifications/tools/list_changed') this.scheduleRefresh();
          else relay.notify(n);
        },
      },
      onClose: () => this.clientSessions.delete(session),
    };
    try {
      await session.open(initParams);
    } catch (err) {
      await session.close().catch(() => undefined);
      if (err instanceof UpstreamUnavailableError) throw err;
      throw new UpstreamUnavailableError(this.id, (err as Error).message, err);
    }
    this.clientSessions.add(session);
    return session;
  }

  async closeClientSession(session: McpSession): Promise<void> {
    if (session === this.control) return;
    this.clientSessions.delete(session);
    await session.close();
  }

  /** Sends a request on the catalog session (used when no client session applies). */
  async request(method: string, params: Record<string, unknown> | undefined): Promise<UpstreamAnswer> {
    return (await this.controlSession()).request(method, params);
  }

  /**
   * Starts a fresh STDIO process (fresh environment, e.g. renewed credentials) that takes every new call, then
   * drains and stops the old one. For HTTP it re-initializes the catalog session.
   */
  async recycle(): Promise<void> {
    this.ready = this.openControl();
    await this.ready;
  }

  private async drain(old: McpSession, graceMs = 30_000): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (old.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    old.hooks.onClose = undefined;
    await old.close('replaced by a fresh process');
  }

  private onControlClose(session: McpSession, reason: string): void {
    if (session !== this.control) return; // a drained, replaced process ending is expected
    this.stateValue = this.stopped ? 'not_ready' : 'error';
    this.ready = null;
    this.control = null;
    this.lastError = reason;
    if (this.stopped) return;
    this.log.warn('upstream connection lost', { server: this.id, reason });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    // A process that ran for a while before dying starts again quickly; a crash loop backs off exponentially.
    if (Date.now() - this.lastStart > 30_000) this.restartDelay = this.config.restart.initialDelayMs;
    const delay = this.kind === 'stdio' ? this.restartDelay : Math.max(this.restartDelay, 1000);
    this.restartDelay = Math.min(Math.max(this.restartDelay * 2, 1), this.config.restart.maxDelayMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || this.stateValue === 'ok') return;
      this.restarts++;
      this.log.info('reconnecting upstream', { server: this.id, attempt: this.restarts, delayMs: delay });
      void this.connect().catch(() => undefined);
    }, delay);
    this.restartTimer.unref();
  }

  /** Ends every session: DELETE for HTTP, stdin close then signals for STDIO. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.refreshTimer);
    const sessions = [...this.clientSessions, ...(this.control ? [this.control] : [])];
    this.clientSessions.clear();
    await Promise.all(sessions.map((s) => s.close('gateway is shutting down').catch(() => undefined)));
    await this.pool?.close();
    this.stateValue = 'not_ready';
  }
}
