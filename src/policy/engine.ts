/**
 * The policy engine: holds the active WASM bundle, evaluates the two entrypoints, and swaps bundles atomically.
 * Fail closed: no bundle, an evaluation error or an evaluation over its time budget is an error decision (deny).
 */
import { createHash } from 'node:crypto';
import { type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { loadPolicyWithBuiltins } from './builtins.js';
import { parseBundle, type Bundle, type Verifier } from './bundle.js';

export const ENTRYPOINT_VISIBLE = 'portcullis/visible';
export const ENTRYPOINT_DECISION = 'portcullis/decision';

export interface ActiveBundle {
  revision: string;
  /** Increments on every activation; caches key on it so a swap invalidates them. */
  generation: number;
  sha256: string;
  activatedAt: Date;
}

export type EvalResult = { ok: true; value: unknown; micros: number } | { ok: false; reason: string; micros: number; cause?: unknown };

interface Loaded {
  policy: LoadedPolicy;
  info: ActiveBundle;
}

export interface PolicyEngineOptions {
  timeoutMs: number;
  maxMemoryPages: number;
  /** When set, only bundles signed with this key are activated. */
  verifier?: Verifier;
}

export class PolicyEngine {
  private active: Loaded | null = null;
  private generation = 0;

  constructor(private readonly opts: PolicyEngineOptions) {}

  get bundle(): ActiveBundle | null {
    return this.active?.info ?? null;
  }

  /**
   * Load and smoke-test a bundle; only if every step succeeds does it replace the active one.
   * A failure throws and leaves the previous bundle serving (OPA's "last good bundle" rule).
   */
  async activate(archive: Buffer): Promise<ActiveBundle> {
    const sha256 = createHash('sha256').update(archive).digest('hex');
    const bundle: Bundle = await parseBundle(archive, this.opts.verifier);
    // Initial memory is small; maximum caps what a huge input can make it grow to (then evaluation fails, closed).
    const policy = await loadPolicyWithBuiltins(bundle.wasm, { initial: 5, maximum: this.opts.maxMemoryPages });
    policy.setData(bundle.data);
    const eps = policy.entrypoints as Record<string, number>;
    for (const ep of [ENTRYPOINT_VISIBLE, ENTRYPOINT_DECISION]) {
      if (!Object.prototype.hasOwnProperty.call(eps, ep)) {
        throw new Error(`bundle lacks entrypoint ${ep} (build with: opa build -t wasm -e ${ENTRYPOINT_VISIBLE} -e ${ENTRYPOINT_DECISION})`);
      }
    }
    // A module that cannot evaluate an empty input would deny everything; refuse it now instead.
    policy.evaluate({ action: 'tools/list', tools: [], subject: { anonymous: true, roles: [], groups: [], scopes: [], claims: {} } }, ENTRYPOINT_VISIBLE);
    const info: ActiveBundle = { revision: bundle.revision, generation: ++this.generation, sha256, activatedAt: new Date() };
    this.active = { policy, info };
    return info;
  }

  /** Evaluate one entrypoint. Never throws: failures come back as { ok: false, reason }. */
  evaluate(entrypoint: string, input: unknown): EvalResult {
    const loaded = this.active;
    const start = performance.now();
    const micros = () => (performance.now() - start) * 1000;
    if (!loaded) return { ok: false, reason: 'no policy bundle loaded', micros: 0 };
    let rs: unknown;
    try {
      rs = loaded.policy.evaluate(input, entrypoint);
    } catch (err) {
      // The caller gets the kind of error without the policy's source locations; the full text goes to log and audit.
      const detail = describeEvalError(err);
      const reason = `policy evaluation error: ${detail.replace(/(?:[^\s:]+\.rego|[^\s:]*\/[^\s:]*):\d+(?::\d+)?:?\s*/g, '')}`;
      return { ok: false, reason, micros: micros(), cause: new Error(`policy evaluation error: ${detail}`) };
    }
    const took = micros();
    // WASM evaluation is synchronous and cannot be pre-empted; a result that came too late is still refused,
    // so a slow policy shows up as denials rather than as silent latency. Over budget, the evaluation is timed once
    // more: on a loaded machine wall time includes waiting for a core (or a GC pause), and a policy must not deny
    // because a neighbour was busy, while a policy that is really too slow is slow twice. (Reading CPU time instead
    // costs a system call per evaluation, several percent of a call.)
    if (took > this.opts.timeoutMs * 1000) {
      const again = performance.now();
      try {
        loaded.policy.evaluate(input, entrypoint);
      } catch {
        // it succeeded a moment ago; only the timing is being checked
      }
      if ((performance.now() - again) * 1000 > this.opts.timeoutMs * 1000) {
        return { ok: false, reason: `policy evaluation exceeded its ${this.opts.timeoutMs} ms budget`, micros: took };
      }
    }
    const first = Array.isArray(rs) ? (rs[0] as { result?: unknown } | undefined) : undefined;
    return { ok: true, value: first?.result, micros: took };
  }
}

function describeEvalError(err: unknown): string {
  // opa-wasm throws strings as well as Errors; keep the message short and free of input data.
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : 'unknown error';
  return text.split('\n')[0]!.slice(0, 200);
}
