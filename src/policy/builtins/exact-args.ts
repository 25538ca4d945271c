/**
 * Exact integer arguments for the host builtins.
 *
 * opa-wasm reads each builtin argument out of WASM memory as JSON text and hands it to JSON.parse, which rounds an
 * integer beyond 2^53 (every nanosecond timestamp after April 1970) to the nearest double: time.add_date(ns, 0, 0, 1)
 * would lose the last digits that OPA keeps. opa-wasm offers no hook between the text and the parse, so for the
 * builtins that take timestamps, JSON.parse is swapped for an exact parser for exactly that stretch: from opa-wasm's
 * lookup of the builtin (a Proxy get on the builtin table, which it does just before reading the arguments) until the
 * builtin starts, and in any case until the evaluation returns or throws (evaluation is synchronous, so no other code
 * runs in between).
 */
import { parseJSONLossless } from './json-lossless.js';
import { RawJSON } from './values.js';

const nativeParse = JSON.parse;

/** JSON.parse, except that integers beyond 2^53 become bigints (and the original parser is the fallback). */
function exactParse(text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown): unknown {
  if (reviver) return nativeParse(text, reviver);
  let v: unknown;
  try {
    v = parseJSONLossless(text);
  } catch {
    return nativeParse(text);
  }
  const walk = (x: unknown): unknown => {
    if (x instanceof RawJSON) {
      const n = Number(x.text);
      return /^-?\d+$/.test(x.text) && !Number.isSafeInteger(n) ? BigInt(x.text) : n;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (x !== null && typeof x === 'object') {
      for (const k of Object.keys(x)) (x as Record<string, unknown>)[k] = walk((x as Record<string, unknown>)[k]);
    }
    return x;
  };
  return walk(v);
}

/** Arguments of the next builtin call are parsed exactly. */
export function armExactArguments(): void {
  JSON.parse = exactParse as typeof JSON.parse;
}

/** Back to the native parser; safe to call at any time. */
export function disarmExactArguments(): void {
  JSON.parse = nativeParse;
}

/**
 * The builtin table opa-wasm consults: looking up one of `exact` arms exact parsing for its arguments; each function
 * disarms it as it starts.
 */
export function withExactArguments<T extends (...args: unknown[]) => unknown>(table: Record<string, T>, exact: readonly string[]): Record<string, T> {
  const wrapped: Record<string, T> = {};
  for (const [name, fn] of Object.entries(table)) {
    wrapped[name] = ((...args: unknown[]) => {
      disarmExactArguments();
      return fn(...args);
    }) as T;
  }
  return new Proxy(wrapped, {
    get(target, name) {
      const fn = typeof name === 'string' && Object.prototype.hasOwnProperty.call(target, name) ? target[name] : undefined;
      if (fn && exact.includes(name as string)) armExactArguments();
      return fn;
    },
  });
}
