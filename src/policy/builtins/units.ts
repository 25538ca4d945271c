/** units.parse and units.parse_bytes with OPA's grammar and arithmetic (v1/topdown/parse_units.go, parse_bytes.go). */
import { BuiltinError } from './civil.js';
import { RawJSON, str, type Builtin } from './values.js';

/** An exact rational n/d (d > 0). */
interface Rat { n: bigint; d: bigint }

const MAX_EXPONENT_DIGITS = 6;
/**
 * OPA computes "1e999999" exactly (seconds of CPU in OPA, half a second here, and a million-digit number for the
 * policy). A gateway cannot let one argument stall its event loop, so amounts beyond 1000 decimal digits or exponents
 * beyond ±1000 are an error (undefined) instead: far past any real quantity, and fixed like OPA's own exponent-digit
 * limit, so not a setting.
 */
const MAX_DIGITS = 1000;

/** OPA's extractNumAndUnit: the number (digits, '.', signs, an exponent) and the rest as the unit. */
function split(s: string): [string, string] {
  const digit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
  let first = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (!digit(c) && c !== '.' && c !== 'e' && c !== 'E' && c !== '+' && c !== '-') { first = i; break; }
    if (c === 'e' || c === 'E') {
      const next = s[i + 1];
      if (i === s.length - 1 || (!digit(next) && next !== '+' && next !== '-')) { first = i; break; }
      if (next === '+' || next === '-') i++;
      let end = i + 1;
      while (end < s.length && digit(s[end])) end++;
      if (end - (i + 1) > MAX_EXPONENT_DIGITS) throw new BuiltinError('exponent too large');
    }
  }
  if (first === -1) return [s, ''];
  if (first === 0) return ['', s];
  return [s.slice(0, first), s.slice(first)];
}

/** Go's big.Rat SetString for decimal text: sign, digits with an optional point, optional exponent. */
function parseRat(s: string): Rat {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new BuiltinError('could not parse amount to a number');
  const frac = m[3] ?? '';
  const e = Number(m[4] ?? 0);
  if (m[2]!.length + frac.length > MAX_DIGITS || Math.abs(e) > MAX_DIGITS) throw new BuiltinError('amount too large');
  let n = BigInt((m[2] || '0') + frac) * (m[1] === '-' ? -1n : 1n);
  let d = 10n ** BigInt(frac.length);
  if (e >= 0) n *= 10n ** BigInt(e);
  else d *= 10n ** BigInt(-e);
  return { n, d };
}

/** The exact value of a float64 (Go's Rat.SetFloat64): 0.001 is not 1/1000 to Go, so not here either. */
function ratOfDouble(x: number): Rat {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  const mant = (bits & ((1n << 52n) - 1n)) | (exp === 0 ? 0n : 1n << 52n);
  const e = (exp === 0 ? 1 : exp) - 1075;
  return e >= 0 ? { n: mant << BigInt(e), d: 1n } : { n: mant, d: 1n << BigInt(-e) };
}

/** Go's Rat.FloatString(10): ten decimals, the last rounded half away from zero. */
function floatString(r: Rat, places: number): string {
  const neg = r.n < 0n;
  const n = neg ? -r.n : r.n;
  const scale = 10n ** BigInt(places);
  let q = (n * scale) / r.d;
  const rem = (n * scale) % r.d;
  if (rem * 2n >= r.d) q++;
  const whole = (q / scale).toString();
  const frac = (q % scale).toString().padStart(places, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

const SI: Record<string, bigint> = { k: 1000n, m: 10n ** 6n, g: 10n ** 9n, t: 10n ** 12n, p: 10n ** 15n, e: 10n ** 18n };
const BIN: Record<string, bigint> = { ki: 1n << 10n, mi: 1n << 20n, gi: 1n << 30n, ti: 1n << 40n, pi: 1n << 50n, ei: 1n << 60n };

function unitsParse(x: unknown): unknown {
  const s = str(x).replaceAll('"', '');
  if (s.includes(' ')) throw new BuiltinError('spaces not allowed in resource strings');
  let [num, unit] = split(s);
  if (num === '') throw new BuiltinError('no amount provided');
  // Only the letters after the first are lower-cased, so "m" (milli) and "M" (mega) stay apart.
  if (unit.length > 1) unit = unit[0] + unit.slice(1).toLowerCase();
  let mult: Rat;
  if (unit === 'm') mult = ratOfDouble(0.001);
  else if (unit === '') mult = { n: 1n, d: 1n };
  else if (unit === 'M') mult = { n: SI.m!, d: 1n };
  else if (unit.length === 1 && SI[unit.toLowerCase()] !== undefined) mult = { n: SI[unit.toLowerCase()]!, d: 1n };
  else if (BIN[unit.toLowerCase()] !== undefined) mult = { n: BIN[unit.toLowerCase()]!, d: 1n };
  else throw new BuiltinError(`unit ${unit} not recognized`);
  const v = parseRat(num);
  const r = { n: v.n * mult.n, d: v.d * mult.d };
  if (r.n % r.d === 0n) return r.n / r.d;
  return new RawJSON(floatString(r, 10));
}

const BYTES: Record<string, bigint> = {
  '': 1n, kb: 1000n, k: 1000n, kib: 1n << 10n, ki: 1n << 10n, mb: 10n ** 6n, m: 10n ** 6n, mib: 1n << 20n, mi: 1n << 20n,
  gb: 10n ** 9n, g: 10n ** 9n, gib: 1n << 30n, gi: 1n << 30n, tb: 10n ** 12n, t: 10n ** 12n, tib: 1n << 40n, ti: 1n << 40n,
  pb: 10n ** 15n, p: 10n ** 15n, pib: 1n << 50n, pi: 1n << 50n, eb: 10n ** 18n, e: 10n ** 18n, eib: 1n << 60n, ei: 1n << 60n,
};

function unitsParseBytes(x: unknown): unknown {
  const s = str(x).toLowerCase().replaceAll('"', '');
  if (s.includes(' ')) throw new BuiltinError('spaces not allowed in resource strings');
  const [num, unit] = split(s);
  if (num === '') throw new BuiltinError('no byte amount provided');
  const mult = BYTES[unit];
  if (mult === undefined) throw new BuiltinError(`byte unit ${unit} not recognized`);
  const v = parseRat(num);
  // Truncated toward zero, as big.Float.Int does. (Go rounds the amount to a 64-bit mantissa first; amounts that
  // need more than 64 bits are beyond any realistic byte count.)
  return (v.n * mult) / v.d;
}

export const unitsBuiltins: Record<string, Builtin> = {
  'units.parse': unitsParse,
  'units.parse_bytes': unitsParseBytes,
};
