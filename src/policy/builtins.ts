/**
 * Host implementations of the OPA builtins that `opa build -t wasm` does not compile into the module (time.*,
 * crypto.*, io.jwt.decode, semver.*, units.*, and a few string and regex helpers), handed to opa-wasm's loadPolicy.
 * Each follows OPA's own semantics, checked case by case against the OPA CLI (test/cases/builtins/).
 * An erroring builtin makes its expression undefined, as in OPA without --strict-builtin-errors; the policy then
 * decides (and an undefined decision denies).
 * Not provided, on purpose: http.send and net.lookup_ip_addr (network I/O inside a decision), rand.intn and
 * uuid.rfc4122 (not deterministic, so a decision could not be replayed), opa.runtime.
 */
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { NS_PER_SEC } from './builtins/civil.js';
import { cryptoBuiltins } from './builtins/crypto.js';
import { parseRFC3339 } from './builtins/go-layout.js';
import { semverBuiltins } from './builtins/semver.js';
import { textBuiltins } from './builtins/text.js';
import { timeBuiltins } from './builtins/time.js';
import { unitsBuiltins } from './builtins/units.js';
import { toWasmResult, type Builtin } from './builtins/values.js';

const pure: Record<string, Builtin> = { ...timeBuiltins, ...cryptoBuiltins, ...semverBuiltins, ...unitsBuiltins, ...textBuiltins };

/** Every builtin the gateway provides on the host. */
export const PROVIDED_BUILTINS: readonly string[] = Object.freeze(['time.now_ns', ...Object.keys(pure)].sort());

/** The host builtins opa-wasm 1.10 implements itself (they take precedence over the gateway's). */
export const OPA_WASM_BUILTINS: readonly string[] = Object.freeze(['json.is_valid', 'regex.split', 'sprintf', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal']);

/**
 * Whether a builtin that a bundle's policy.wasm imports (its builtins() export) can run here; one that cannot throws
 * "not implemented" at evaluation time, and the decision denies.
 */
export function hostCanRun(name: string): boolean {
  return OPA_WASM_BUILTINS.includes(name) || PROVIDED_BUILTINS.includes(name);
}

/**
 * The instant an evaluation runs at, frozen for the whole evaluation as OPA freezes time.now_ns per query:
 * input.request.time (the gateway's clock when the request arrived, also in the audit record, so a replayed
 * decision sees the same time), else the host clock when the evaluation started.
 */
export function evaluationTimeNs(input: unknown): bigint {
  const t = (input as { request?: { time?: unknown } } | null | undefined)?.request?.time;
  if (typeof t === 'string') {
    try {
      return parseRFC3339(t);
    } catch {
      // not a timestamp: fall back to the clock
    }
  }
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * (NS_PER_SEC / 1_000_000n);
}

interface Clock {
  input: unknown;
  now: bigint | null;
}

function hostBuiltins(clock: Clock): Record<string, (...args: unknown[]) => unknown> {
  const wrap = (fn: Builtin) => (...args: unknown[]) => {
    try {
      return toWasmResult(fn(...args));
    } catch {
      // opa-wasm turns a JavaScript undefined into "no value": the expression is undefined, as OPA makes it.
      return undefined;
    }
  };
  const out: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(pure)) out[name] = wrap(fn);
  out['time.now_ns'] = wrap(() => (clock.now ??= evaluationTimeNs(clock.input)));
  return out;
}

/**
 * opa-wasm's loadPolicy with the gateway's builtins. The returned policy's evaluate() sets the evaluation's clock
 * first (evaluation is synchronous, so one clock per loaded policy is enough).
 */
export async function loadPolicyWithBuiltins(wasm: Parameters<typeof loadPolicy>[0], memory: WebAssembly.MemoryDescriptor): Promise<LoadedPolicy> {
  const clock: Clock = { input: undefined, now: null };
  const policy = await loadPolicy(wasm, memory, hostBuiltins(clock));
  const evaluate = policy.evaluate.bind(policy);
  policy.evaluate = (input: unknown, entrypoint?: number | string) => {
    clock.input = input;
    clock.now = null;
    try {
      return evaluate(input, entrypoint);
    } finally {
      clock.input = undefined;
    }
  };
  return policy;
}
