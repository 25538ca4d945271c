/**
 * The upstream sessions that belong to one client session, opened on first use with the client's own initialize
 * parameters (so an upstream sees the client's real capabilities: sampling, elicitation, roots).
 */
import { UpstreamUnavailableError } from '../errors/index.js';
import { HttpStatusError } from './http-transport.js';
import type { McpSession, Relay, RequestOptions, UpstreamAnswer } from './mcp-session.js';
import type { Upstream } from './upstream.js';

export class ClientUpstreams {
  private readonly sessions = new Map<string, Promise<McpSession>>();
  private closed = false;
  private listening = false;

  constructor(
    private readonly initParams: Record<string, unknown>,
    private readonly lookup: (serverId: string) => Upstream | undefined,
    /** Where messages that relate to no request go: the client session's own stream. */
    private readonly relay: Relay,
  ) {}

  /** The session with a server, opening it if needed. */
  session(serverId: string): Promise<McpSession> {
    if (this.closed) return Promise.reject(new UpstreamUnavailableError(serverId, 'client session closed'));
    let s = this.sessions.get(serverId);
    if (!s) {
      const upstream = this.lookup(serverId);
      if (!upstream) return Promise.reject(new UpstreamUnavailableError(serverId, 'no such server'));
      s = upstream.openClientSession(this.initParams, this.relay).then(async (session) => {
        // Listen from the start, as a direct client does: an upstream may send a request on its standalone stream
        // while one of this client's calls waits on it (server.request() without a related request id), and
        // that must reach the client even when the client itself never opened a GET stream.
        // Bounded: an upstream slow to open its stream delays the first call by at most a second.
        await Promise.race([session.listen(), new Promise((r) => setTimeout(r, 1000).unref())]);
        return session;
      });
      this.sessions.set(serverId, s);
      s.catch(() => this.sessions.delete(serverId));
    }
    return s.then((session) => {
      if (!session.isClosed) return session;
      this.sessions.delete(serverId);
      return this.session(serverId);
    });
  }

  /** Sends a request; an upstream that forgot the session (HTTP 404) gets one fresh session and one retry. */
  async request(serverId: string, method: string, params: Record<string, unknown> | undefined, opts: RequestOptions = {}): Promise<UpstreamAnswer> {
    const session = await this.session(serverId);
    try {
      return await session.request(method, params, opts);
    } catch (err) {
      if (!(err instanceof HttpStatusError && err.status === 404)) throw err;
      this.sessions.delete(serverId);
      void session.close();
      const fresh = await this.session(serverId);
      try {
        return await fresh.request(method, params, opts);
      } catch (again) {
        if (again instanceof HttpStatusError) throw new UpstreamUnavailableError(serverId, again.message, again);
        throw again;
      }
    }
  }

  /** Tells every open upstream session the same thing (roots/list_changed, …). */
  async broadcast(method: string, params?: Record<string, unknown>): Promise<void> {
    await Promise.all(
      [...this.sessions.values()].map((p) =>
        p.then(
          (s) => s.notify(method, params),
          () => undefined,
        ),
      ),
    );
  }

  /**
   * The client opened its own stream for server-initiated messages: from now on the upstream sessions listen too.
   * Until then they do not, so an idle client costs the upstream no held-open connection.
   */
  listen(): void {
    this.listening = true;
    for (const p of this.sessions.values()) p.then((s) => void s.listen(), () => undefined);
  }

  openServerIds(): string[] {
    return [...this.sessions.keys()];
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.sessions.entries()];
    this.sessions.clear();
    await Promise.all(
      all.map(([id, p]) =>
        p.then(
          (s) => this.lookup(id)?.closeClientSession(s),
          () => undefined,
        ),
      ),
    );
  }
}
