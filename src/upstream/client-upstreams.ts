/**
 * The upstream sessions that belong to one client session, opened on first use with the client's own initialize
 * parameters (so an upstream sees the client's real capabilities: sampling, elicitation, roots).
 */
import { UpstreamUnavailableError } from '../errors/index.js';
import { METHOD_NOT_FOUND } from '../errors/codes.js';
import { compileScrubber, type Scrubber } from '../redaction/scrub-secrets.js';
import { HttpStatusError } from './http-transport.js';
import type { McpSession, Relay, RequestOptions, UpstreamAnswer } from './mcp-session.js';
import type { Upstream } from './upstream.js';

/** The client capability each server-to-client request needs (MCP lifecycle: a server sends these only to a client
 *  that declared them). A method not listed is not relayed. */
const CAPABILITY_FOR: Record<string, string> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
  'tasks/get': 'tasks',
  'tasks/result': 'tasks',
  'tasks/list': 'tasks',
  'tasks/cancel': 'tasks',
};

/** How many distinct credentials per server are remembered for scrubbing (rotation adds one each time). */
const REMEMBERED_SECRETS = 32;

export class ClientUpstreams {
  private readonly sessions = new Map<string, Promise<McpSession>>();
  /** Credentials sent to each server on this client's session, so what it sends later outside a call is scrubbed too. */
  private readonly sent = new Map<string, { secrets: string[]; scrubber: Scrubber | null }>();
  private closed = false;
  private listening = false;
  private readonly relay: Relay;

  constructor(
    private readonly initParams: Record<string, unknown>,
    private readonly lookup: (serverId: string) => Upstream | undefined,
    /** Where messages that relate to no request go: the client session's own stream. */
    relay: Relay,
  ) {
    this.relay = this.guard(relay);
  }

  /**
   * A relay that asks this client only what it said it can answer: a server-initiated request needing a
   * capability the client did not declare in its initialize is refused to the upstream, not put to the client
   * (which might act on it, e.g. show an elicitation it never agreed to receive).
   */
  private guard(relay: Relay): Relay {
    const caps = (this.initParams.capabilities ?? {}) as Record<string, unknown>;
    return {
      notify: (n) => relay.notify(n),
      request: async (method, params) => {
        const cap = CAPABILITY_FOR[method];
        if (cap === undefined) return { ok: false, error: { code: METHOD_NOT_FOUND, message: `Method not found: ${method} is not relayed to clients` } };
        const declared = caps[cap];
        const urlMode = method === 'elicitation/create' && params?.mode === 'url';
        if (declared === undefined || declared === null || (urlMode && (declared as Record<string, unknown>).url === undefined)) {
          const what = urlMode ? 'elicitation.url' : cap;
          return { ok: false, error: { code: METHOD_NOT_FOUND, message: `the client did not declare the ${what} capability; ${method} refused` } };
        }
        return relay.request(method, params);
      },
      available: () => relay.available?.() !== false,
    };
  }

  /** The session with a server, opening it if needed. */
  session(serverId: string): Promise<McpSession> {
    if (this.closed) return Promise.reject(new UpstreamUnavailableError(serverId, 'client session closed'));
    let s = this.sessions.get(serverId);
    if (!s) {
      const upstream = this.lookup(serverId);
      if (!upstream) return Promise.reject(new UpstreamUnavailableError(serverId, 'no such server'));
      s = upstream.openClientSession(this.initParams, this.relayFrom(serverId)).then(async (session) => {
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

  /**
   * The client's own stream for one server's messages outside any call: an HTTP upstream given a credential in an
   * earlier call could echo it in a later log message, so what this client's session sent it is scrubbed here.
   */
  private relayFrom(serverId: string): Relay {
    const scrub = <T>(v: T): T => {
      const sc = this.sent.get(serverId)?.scrubber;
      return sc ? sc.value(v).value : v;
    };
    return {
      notify: (n) => this.relay.notify(scrub(n)),
      request: (method, params) => this.relay.request(method, scrub(params)),
      available: () => this.relay.available?.() !== false,
    };
  }

  private remember(serverId: string, secrets: readonly string[]): void {
    let e = this.sent.get(serverId);
    if (!e) this.sent.set(serverId, (e = { secrets: [], scrubber: null }));
    const fresh = secrets.filter((s) => !e.secrets.includes(s));
    if (fresh.length === 0) return;
    // A new array each time: compiled scrubbers are cached by the array they were compiled from.
    e.secrets = [...e.secrets, ...fresh].slice(-REMEMBERED_SECRETS);
    e.scrubber = compileScrubber(e.secrets);
  }

  /**
   * Sends a request. tools/call is scrubbed by the pipeline with exactly what that call carried; anything else
   * (prompts, resources, completion) carries no credential of its own, but the upstream may still echo one: the
   * credentials in its process environment (STDIO) or those this client's calls sent it before (HTTP).
   */
  async request(serverId: string, method: string, params: Record<string, unknown> | undefined, opts: RequestOptions = {}): Promise<UpstreamAnswer> {
    if (opts.secrets && opts.secrets.length > 0) this.remember(serverId, opts.secrets);
    const scrubbers = method === 'tools/call' ? [] : this.scrubbersFor(serverId);
    if (scrubbers.length === 0) return this.send(serverId, method, params, opts);
    const scrub = <T>(v: T): T => scrubbers.reduce((acc, sc) => sc.value(acc).value, v);
    const relay = opts.relay;
    const scrubbed: RequestOptions = relay
      ? { ...opts, relay: { notify: (n) => relay.notify(scrub(n)), request: (m, p) => relay.request(m, scrub(p)) } }
      : opts;
    try {
      return scrub(await this.send(serverId, method, params, scrubbed));
    } catch (err) {
      if (err instanceof Error) {
        err.message = scrubbers.reduce((acc, sc) => sc.text(acc).text, err.message);
        if (err.cause instanceof Error) err.cause.message = scrubbers.reduce((acc, sc) => sc.text(acc).text, err.cause.message);
      }
      throw err;
    }
  }

  private scrubbersFor(serverId: string): Scrubber[] {
    const out: Scrubber[] = [];
    const sent = this.sent.get(serverId)?.scrubber;
    if (sent) out.push(sent);
    const spawned = this.lookup(serverId)?.credentialScrubber;
    if (spawned) out.push(spawned);
    return out;
  }

  /** An upstream that forgot the session (HTTP 404) gets one fresh session and one retry. */
  private async send(serverId: string, method: string, params: Record<string, unknown> | undefined, opts: RequestOptions): Promise<UpstreamAnswer> {
    // A relay that checks capabilities itself (a 2026-07-28 exchange, which answers -32021) is not guarded twice.
    opts = { ...opts, owner: this, relay: opts.relay && (opts.relay.checksCapabilities ? opts.relay : this.guard(opts.relay)) };
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
