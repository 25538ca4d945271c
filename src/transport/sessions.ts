/** Client sessions: secure random ids, bound to the principal that created them, with an idle timeout and a cap. */
import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import type { JsonRpcId } from '../protocol/json-rpc.js';
import { capabilityKey } from '../protocol/mcp.js';
import { CLIENT_UNREACHABLE } from '../errors/codes.js';
import type { ClientUpstreams, UpstreamAnswer } from '../upstream/index.js';
import { endTasks } from './tasks.js';

/** A request the gateway sent to the client (relayed sampling, elicitation, roots/list) awaiting its answer. */
export interface AwaitedAnswer {
  resolve: (a: UpstreamAnswer) => void;
  timer: NodeJS.Timeout;
}

export interface Session {
  /** 256 random bits, base64url: visible ASCII as the transport spec requires. */
  readonly id: string;
  /** The (iss, sub) that created it; every request must come from the same one (checklist C14). */
  readonly principal: string;
  /** null for the aggregate endpoint /mcp, else the server id of /mcp/<serverId>. */
  readonly serverId: string | null;
  readonly hash: string;
  protocolVersion: string;
  /** What the client's capabilities make of upstream lists (protocol/mcp.ts). */
  readonly capabilityKey: string;
  clientInfo: Record<string, unknown> | undefined;
  initialized: boolean;
  lastSeen: number;
  /** The GET stream for server-initiated messages, when the client opened one. */
  stream: Response | undefined;
  /** In-flight client requests, so notifications/cancelled and disconnects can abort them. */
  readonly inflight: Map<JsonRpcId, AbortController>;
  /** The client's initialize params, replayed to each upstream session opened for it. */
  readonly initParams: Record<string, unknown>;
  /** Upstream sessions opened for this client; set right after creation. */
  upstreams: ClientUpstreams | undefined;
  /** Requests relayed to the client, by the id the gateway gave them. */
  readonly awaiting: Map<JsonRpcId, AwaitedAnswer>;
  nextOutboundId: number;
  /** Which server listed each resource URI, so resources/read on /mcp reaches the right one. */
  readonly resourceOwners: Map<string, string>;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  /** Live sessions per principal, for the per-principal cap. */
  private readonly perPrincipal = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly idleTimeoutMs: number,
    readonly max: number,
    private readonly hash: (id: string) => string,
    readonly maxPerPrincipal = Number.POSITIVE_INFINITY,
  ) {}

  /** True when this principal holds as many sessions as it may: one identity cannot fill the gateway for all. */
  fullFor(principal: string): boolean {
    return (this.perPrincipal.get(principal) ?? 0) >= this.maxPerPrincipal;
  }

  get size(): number {
    return this.sessions.size;
  }

  get full(): boolean {
    return this.sessions.size >= this.max;
  }

  create(principal: string, serverId: string | null, protocolVersion: string, initParams: Record<string, unknown>): Session {
    const id = randomBytes(32).toString('base64url');
    const s: Session = {
      id,
      principal,
      serverId,
      hash: this.hash(id),
      protocolVersion,
      capabilityKey: capabilityKey(initParams.capabilities),
      clientInfo: initParams.clientInfo as Record<string, unknown> | undefined,
      initParams,
      upstreams: undefined,
      awaiting: new Map(),
      nextOutboundId: 1,
      resourceOwners: new Map(),
      initialized: false,
      lastSeen: Date.now(),
      stream: undefined,
      inflight: new Map(),
    };
    this.sessions.set(id, s);
    this.perPrincipal.set(principal, (this.perPrincipal.get(principal) ?? 0) + 1);
    return s;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  delete(id: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    this.sessions.delete(id);
    const n = (this.perPrincipal.get(s.principal) ?? 1) - 1;
    if (n <= 0) this.perPrincipal.delete(s.principal);
    else this.perPrincipal.set(s.principal, n);
    for (const ac of s.inflight.values()) ac.abort();
    for (const w of s.awaiting.values()) {
      clearTimeout(w.timer);
      w.resolve({ ok: false, error: { code: CLIENT_UNREACHABLE, message: 'client session ended' } });
    }
    s.awaiting.clear();
    s.stream?.end();
    endTasks(s);
    // Ending a client session ends the upstream sessions opened for it (DELETE), so none leak.
    void s.upstreams?.closeAll();
    return true;
  }

  *all(): IterableIterator<Session> {
    yield* this.sessions.values();
  }

  start(): void {
    const every = Math.max(1000, Math.min(60_000, this.idleTimeoutMs / 4));
    this.sweeper = setInterval(() => {
      const cutoff = Date.now() - this.idleTimeoutMs;
      for (const s of this.sessions.values()) {
        // A session with an open stream or a call in flight is not idle.
        if (s.lastSeen < cutoff && s.inflight.size === 0 && !s.stream) this.delete(s.id);
      }
    }, every);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const id of [...this.sessions.keys()]) this.delete(id);
  }
}
