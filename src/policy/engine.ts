/**
 * The policy engine: holds the active WASM bundle, evaluates the two entrypoints, and swaps bundles atomically.
 * Fail closed: no bundle, an evaluation error or an evaluation over its time budget is an error decision (deny).
 */
import { createHash } from 'node:crypto';
import { type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { loadPolicyWithBuiltins, OPA_WASM_BUILTINS, PROVIDED_BUILTINS } from './builtins.js';
import { parseBundle, type Bundle, type Verifier } from './bundle.js';
import { missingBuiltins, requiredBuiltins } from './required-builtins.js';

export const ENTRYPOINT_VISIBLE = 'portcullis/visible';
export const ENTRYPOINT_DECISION = 'portcullis/decision';

export interface ActiveBundle {
  revision: string;
  /** Increments on every activation; caches key on it so a swap invalidates them. */
  generation: number;
  sha256: string;
  activatedAt: Date;
  /** Host builtins the policy imports that the gateway does not provide: a rule that reaches one fails (closed). */
  missingBuiltins: string[];
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

/** Every host builtin the engine can satisfy (opa-wasm's own and builtins.ts'): `policy build` and activation name the others. */
export function providedBuiltins(): ReadonlySet<string> {
  return new Set([...OPA_WASM_BUILTINS, ...PROVIDED_BUILTINS]);
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
    // Activation still goes ahead (a rule may reach the builtin only rarely), but the watcher logs the names.
    const missing = missingBuiltins(await requiredBuiltins(bundle.wasm), providedBuiltins());
    const info: ActiveBundle = { revision: bundle.revision, generation: ++this.generation, sha256, activatedAt: new Date(), missingBuiltins: missing };
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
      // Lone surrogates in the input become U+FFFD on the way in (builtins.ts serializes it with input-text.ts).
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

const NOT_IMPLEMENTED = /^not implemented: built-in function \d+: (\S+)/;

function describeEvalError(err: unknown): string {
  // opa-wasm throws strings, Errors, and for a missing builtin a plain { message } object; keep the message short
  // and free of input data.
  const message = (err as { message?: unknown } | null)?.message;
  const text = typeof err === 'string' ? err : typeof message === 'string' ? message : 'unknown error';
  const builtin = NOT_IMPLEMENTED.exec(text)?.[1];
  if (builtin) return `the policy calls builtin ${builtin}, which the gateway does not provide (policies/README.md §7)`;
  return text.split('\n')[0]!.slice(0, 200);
}
