/**
 * Multi round-trip requests (MCP 2026-07-28, SEP-2322) in front of 2025 upstreams. A 2025 upstream asks for input
 * with a server-to-client request (elicitation/create, sampling/createMessage, roots/list) in the middle of a
 * call; a 2026 client cannot be sent one. So the gateway keeps the call running, answers the client with an
 * `input_required` result carrying those requests and a `requestState`, and when the client retries with its
 * `inputResponses`, hands them to the waiting upstream and goes on waiting for the call's next step.
 *
 * `requestState` is attacker-controlled input (SEP-2322): the gateway's is an HMAC over the call it names, the
 * principal, the method and target, the round and an expiry, under a key that never leaves the process; each
 * state is good for one retry. Calls waiting for input are bounded in number and time.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { INTERNAL_ERROR, METHOD_NOT_FOUND, MISSING_CLIENT_CAPABILITY } from '../errors/codes.js';
import { GatewayError } from '../errors/index.js';
import type { Relay, UpstreamAnswer } from '../upstream/index.js';
import type { RequestStream } from './client-link.js';

export type Outcome =
  | { kind: 'result'; text: string }
  | { kind: 'error'; error: unknown }
  | { kind: 'input'; requests: Record<string, { method: string; params?: Record<string, unknown> }>; state: string };

/** The client capability each server-to-client request needs. */
const CAPABILITY_OF: Record<string, string> = { 'elicitation/create': 'elicitation', 'sampling/createMessage': 'sampling', 'roots/list': 'roots' };

/** The `_meta` key an upstream may use to suggest the inputRequests key for its request. */
export const INPUT_KEY_HINT = 'io.portcullis/inputKey';

/** How long the gateway gathers concurrent upstream requests into one input_required result. */
const GATHER_MS = 10;

export class MissingCapabilityError extends GatewayError {
  constructor(capability: string, method: string) {
    super(MISSING_CLIENT_CAPABILITY, 'upstream', `Missing required client capability: the server needs '${capability}' (${method}), which the client did not declare`, {
      data: { requiredCapabilities: { [capability]: {} } },
      httpStatus: 400,
    });
  }
}

interface Asked {
  method: string;
  params?: Record<string, unknown>;
  resolve: (a: UpstreamAnswer) => void;
}

export class Exchange {
  readonly id = randomUUID();
  private readonly pending = new Map<string, Asked>();
  private asked = 0;
  private round = 0;
  private done: Outcome | undefined;
  private waiter: ((o: Outcome) => void) | undefined;
  private gather: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private stream: RequestStream | undefined;
  private logs = false;
  /** The state handed out for the current round, until a retry uses it. */
  private state: string | undefined;
  waitingForInput = false;

  constructor(
    private readonly store: ExchangeStore,
    readonly principal: string,
    readonly method: string,
    readonly target: string,
    private readonly capabilities: Record<string, unknown>,
    private readonly abort: AbortController,
  ) {}

  /** Where notifications related to the call go in this round (its current response stream). */
  attach(stream: RequestStream, logs: boolean): void {
    this.stream = stream;
    this.logs = logs;
  }

  /** The relay the call's upstream messages go through. */
  readonly relay: Relay = {
    notify: (n) => {
      // 2026-07-28: no notifications/message for a request that did not ask for a log level.
      if (n.method === 'notifications/message' && !this.logs) return;
      this.stream?.notify(n);
    },
    request: (method, params) => {
      const capability = CAPABILITY_OF[method];
      if (capability === undefined) return Promise.resolve({ ok: false, error: { code: METHOD_NOT_FOUND, message: `${method} is not a request a 2026-07-28 client can be asked` } });
      const declared = this.capabilities[capability];
      if (typeof declared !== 'object' || declared === null) {
        this.settle({ kind: 'error', error: new MissingCapabilityError(capability, method) });
        this.abort.abort();
        return Promise.resolve({ ok: false, error: { code: MISSING_CLIENT_CAPABILITY, message: `client did not declare ${capability}` } });
      }
      return new Promise<UpstreamAnswer>((resolve) => {
        // An upstream may suggest the key (`_meta['io.portcullis/inputKey']`), so a client written against the
        // server's own MRTR keys finds them; otherwise, or when taken, the gateway names it.
        const hint = (params?._meta as Record<string, unknown> | undefined)?.[INPUT_KEY_HINT];
        const key = typeof hint === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(hint) && !this.pending.has(hint) ? hint : `${capability}-${++this.asked}`;
        this.pending.set(key, { method, params, resolve });
        this.scheduleInput();
      });
    },
    available: () => true,
    checksCapabilities: true,
  };

  /** The call itself, running in the pipeline's frame: its end is the exchange's end. */
  run(call: Promise<string>): void {
    call.then(
      (text) => this.settle({ kind: 'result', text }),
      (error: unknown) => this.settle({ kind: 'error', error }),
    );
  }

  /** Resolves with what the client gets for this round: the result, the error, or the next input_required. */
  next(): Promise<Outcome> {
    if (this.done) return Promise.resolve(this.done);
    // A retry that left some requests unanswered is asked again for those (SEP-2322: re-request, don't fail).
    if (this.pending.size > 0 && !this.waitingForInput) this.scheduleInput();
    return new Promise<Outcome>((resolve) => (this.waiter = resolve));
  }

  /** The client's answers, by the keys it was given. */
  answer(responses: Record<string, unknown>): void {
    this.state = undefined;
    this.waitingForInput = false;
    for (const [key, asked] of [...this.pending]) {
      if (!Object.hasOwn(responses, key)) continue;
      this.pending.delete(key);
      asked.resolve({ ok: true, result: responses[key] });
    }
  }

  /** True when `state` is this exchange's current state for this principal, method and target. */
  accepts(state: string, principal: string, method: string, target: string): boolean {
    if (this.state === undefined || state.length !== this.state.length) return false;
    if (!timingSafeEqual(Buffer.from(state), Buffer.from(this.state))) return false;
    return principal === this.principal && method === this.method && target === this.target;
  }

  private scheduleInput(): void {
    if (this.gather || this.done) return;
    this.gather = setTimeout(() => {
      this.gather = undefined;
      if (this.done || this.pending.size === 0) return;
      this.round++;
      this.waitingForInput = true;
      this.state = this.store.seal(this, this.round);
      const requests: Record<string, { method: string; params?: Record<string, unknown> }> = {};
      for (const [key, a] of this.pending) requests[key] = a.params === undefined ? { method: a.method } : { method: a.method, params: withoutHint(a.params) };
      this.armExpiry();
      this.wake({ kind: 'input', requests, state: this.state });
    }, GATHER_MS);
  }

  /** A call nobody comes back for is cancelled when its state expires. */
  private armExpiry(): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = setTimeout(() => {
      if (!this.waitingForInput) return;
      this.abort.abort();
      this.settle({ kind: 'error', error: new Error('input_required state expired') });
    }, this.store.stateTtlMs);
    this.expiry.unref();
  }

  private settle(o: Outcome): void {
    if (this.done) return;
    this.done = o;
    if (this.gather) clearTimeout(this.gather);
    if (this.expiry) clearTimeout(this.expiry);
    for (const a of this.pending.values()) a.resolve({ ok: false, error: { code: INTERNAL_ERROR, message: 'the call ended' } });
    this.pending.clear();
    this.store.forget(this);
    this.wake(o);
  }

  private wake(o: Outcome): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(o);
  }
}

export class ExchangeStore {
  private readonly live = new Map<string, Exchange>();
  private readonly key = randomBytes(32);
  readonly stateTtlMs: number;
  private readonly maxPending: number;

  constructor(opts: { maxPending: number; stateTtlMs: number }) {
    this.stateTtlMs = opts.stateTtlMs;
    this.maxPending = opts.maxPending;
  }

  open(principal: string, method: string, target: string, capabilities: Record<string, unknown>, abort: AbortController): Exchange {
    const ex = new Exchange(this, principal, method, target, capabilities, abort);
    // Over the bound, the oldest waiting call is cancelled: memory per waiting call is bounded in total.
    if (this.live.size >= this.maxPending) {
      const oldest = this.live.values().next().value;
      if (oldest) this.live.delete(oldest.id);
    }
    this.live.set(ex.id, ex);
    return ex;
  }

  forget(ex: Exchange): void {
    this.live.delete(ex.id);
  }

  /** `<id>.<expires>.<round>.<mac>`: opaque to the client, verifiable only here. */
  seal(ex: Exchange, round: number): string {
    const expires = Date.now() + this.stateTtlMs;
    return `${ex.id}.${expires}.${round}.${this.mac(ex, expires, round)}`;
  }

  /** The exchange a retry's requestState names, or why it is refused. */
  resume(state: unknown, principal: string, method: string, target: string): Exchange | string {
    const refused = 'Invalid params: requestState is not valid for this request (tampered, replayed, expired or of another caller)';
    if (typeof state !== 'string' || state.length > 256) return refused;
    const [id, expires, round] = state.split('.');
    const ex = id === undefined ? undefined : this.live.get(id);
    if (!ex || Number(expires) < Date.now()) return refused;
    if (!ex.accepts(state, principal, method, target)) return refused;
    // The MAC is checked too, so a state is bound to what it was issued for even if the map were shared.
    if (state !== `${id}.${expires}.${round}.${this.mac(ex, Number(expires), Number(round))}`) return refused;
    return ex;
  }

  private mac(ex: Exchange, expires: number, round: number): string {
    return createHmac('sha256', this.key).update(`${ex.id}|${ex.principal}|${ex.method}|${ex.target}|${expires}|${round}`).digest('base64url');
  }
}

/** The request as the client sees it: the upstream's key hint is the gateway's business only. */
function withoutHint(params: Record<string, unknown>): Record<string, unknown> {
  const meta = params._meta as Record<string, unknown> | undefined;
  if (!meta || !(INPUT_KEY_HINT in meta)) return params;
  const { [INPUT_KEY_HINT]: _hint, ...rest } = meta;
  return Object.keys(rest).length > 0 ? { ...params, _meta: rest } : (({ _meta: _m, ...p }) => p)(params);
}
