/**
 * How host builtins see OPA values. opa-wasm hands each argument over as JSON.parse output and takes the result back
 * through JSON.stringify, unless the result is an ArrayBuffer of JSON text, which it parses as it is. Results are
 * therefore serialised here, so that bigints (nanosecond timestamps beyond 2^53) and raw JSON documents (JWT payloads)
 * reach the policy with every digit.
 */
import { BuiltinError } from './civil.js';

/** A builtin: JSON arguments in; a JSON value, bigint or RawJSON out. Throwing means "undefined", as in OPA. */
export type Builtin = (...args: unknown[]) => unknown;

/** JSON text already validated, passed through verbatim (keeps a document's numbers exact). */
export class RawJSON {
  constructor(readonly text: string) {}
}

export function str(v: unknown, pos = 1): string {
  if (typeof v !== 'string') throw new BuiltinError(`operand ${pos} must be string`);
  return v;
}

/** OPA's IntOperand: a number with no fractional part. */
export function int(v: unknown, pos = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new BuiltinError(`operand ${pos} must be integer number`);
  return v;
}

/** OPA's StringSliceOperand or a single string: sets arrive from WASM as arrays. */
export function strings(v: unknown, pos = 1): string[] {
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) throw new BuiltinError(`operand ${pos} must be one of {string, set, array}`);
  return v.map((x) => str(x, pos));
}

export function toJSONText(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof RawJSON) return v.text;
  if (Array.isArray(v)) return `[${v.map(toJSONText).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJSONText(x)}`).join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new BuiltinError('result is not a finite number');
  const text = JSON.stringify(v);
  if (text === undefined) throw new BuiltinError('result is not JSON');
  return text;
}

/** The result as opa-wasm's loader takes it verbatim: an ArrayBuffer of exactly the JSON text's bytes. */
export function toWasmResult(v: unknown): ArrayBuffer {
  const bytes = new TextEncoder().encode(toJSONText(v));
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
