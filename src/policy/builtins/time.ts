/**
 * time.* builtins with OPA's semantics (v1/topdown/time.go): nanosecond bigints, Go layouts, IANA zones.
 * time.now_ns is not here: it reads the per-evaluation clock (builtins.ts).
 */
import { BuiltinError, checkRange, daysIn, fields, fromFields, loadZone, NS_PER_SEC, UTC, WEEKDAYS, type Zone } from './civil.js';
import { formatLayout, NAMED_LAYOUTS, parseLayout, parseRFC3339 } from './go-layout.js';
import { int, str, type Builtin } from './values.js';

const INT64_MAX = 2n ** 63n - 1n;

/** OPA's tzTime: a number of ns, or [ns], [ns, tz] or [ns, tz, layout]. The number must be an exact int64. */
function tzTime(a: unknown): { ns: bigint; zone: Zone; layout: string } {
  let n: unknown = a;
  let zone = UTC;
  let layout = '';
  if (Array.isArray(a)) {
    if (a.length === 0) throw new BuiltinError('operand 1 must be one of {number, array}');
    n = a[0];
    if (typeof n !== 'number') throw new BuiltinError('operand 1 must be number');
    if (a.length > 1) zone = loadZone(str(a[1]));
    if (a.length > 2) layout = str(a[2]);
  }
  if (typeof n !== 'number') throw new BuiltinError('operand 1 must be one of {number, array}');
  if (!Number.isInteger(n)) throw new BuiltinError('timestamp too big');
  const ns = BigInt(n);
  if (ns > INT64_MAX || ns < -(INT64_MAX + 1n)) throw new BuiltinError('timestamp too big');
  return { ns, zone, layout };
}

/** Go's units, plus the d, w and y (365 days) that OPA's parser adds. */
const DURATION_UNITS: Record<string, bigint> = {
  d: 86400n * NS_PER_SEC, w: 7n * 86400n * NS_PER_SEC, y: 365n * 86400n * NS_PER_SEC,
  ns: 1n, us: 1000n, '\u00b5s': 1000n, '\u03bcs': 1000n, ms: 1_000_000n, s: NS_PER_SEC, m: 60n * NS_PER_SEC, h: 3600n * NS_PER_SEC,
};
const TWO63 = 2n ** 63n;

/** Go's time.ParseDuration (with OPA's extra units), including its float arithmetic for fractions and its overflow rules. */
export function parseDuration(orig: string): bigint {
  const fail = () => new BuiltinError(`time: invalid duration "${orig}"`);
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw fail();
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || (s[0]! >= '0' && s[0]! <= '9'))) throw fail();
    let i = 0;
    let v = 0n;
    for (; i < s.length && s[i]! >= '0' && s[i]! <= '9'; i++) {
      if (v > TWO63 / 10n) throw fail();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > TWO63) throw fail();
    }
    const pre = i > 0;
    s = s.slice(i);
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; j < s.length && s[j]! >= '0' && s[j]! <= '9'; j++) {
        if (overflow) continue;
        if (f > (TWO63 - 1n) / 10n) { overflow = true; continue; }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > TWO63) { overflow = true; continue; }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw fail();
    let k = 0;
    while (k < s.length && s[k] !== '.' && !(s[k]! >= '0' && s[k]! <= '9')) k++;
    if (k === 0) throw fail();
    const unit = DURATION_UNITS[s.slice(0, k)];
    if (unit === undefined) throw fail();
    s = s.slice(k);
    if (v > TWO63 / unit) throw fail();
    v *= unit;
    if (f > 0n) {
      // Go computes the fraction in float64; the same operations give the same nanoseconds.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > TWO63) throw fail();
    }
    d += v;
    if (d > TWO63) throw fail();
  }
  if (neg) return -d;
  if (d > TWO63 - 1n) throw fail();
  return d;
}

export const timeBuiltins: Record<string, Builtin> = {
  'time.parse_rfc3339_ns': (s) => parseRFC3339(str(s)),
  'time.parse_ns': (layout, value) => {
    const l = str(layout);
    return parseLayout(NAMED_LAYOUTS[l] ?? l, str(value));
  },
  'time.parse_duration_ns': (s) => parseDuration(str(s)),
  'time.date': (x) => {
    const { ns, zone } = tzTime(x);
    const f = fields(ns, zone);
    return [f.year, f.month, f.day];
  },
  'time.clock': (x) => {
    const { ns, zone } = tzTime(x);
    const f = fields(ns, zone);
    return [f.hour, f.minute, f.second];
  },
  'time.weekday': (x) => {
    const { ns, zone } = tzTime(x);
    return WEEKDAYS[fields(ns, zone).weekday];
  },
  'time.add_date': (x, years, months, days) => {
    const { ns, zone } = tzTime(x);
    const [y, m, d] = [int(years), int(months), int(days)];
    const f = fields(ns, zone);
    return checkRange(fromFields(f.year + y, f.month + m, f.day + d, f.hour, f.minute, f.second, BigInt(f.nsec), zone));
  },
  'time.diff': (a, b) => {
    const t1 = tzTime(a);
    const t2 = tzTime(b);
    // Both are read in the first one's zone; the earlier one comes first.
    const [lo, hi] = t1.ns <= t2.ns ? [t1.ns, t2.ns] : [t2.ns, t1.ns];
    const f1 = fields(lo, t1.zone);
    const f2 = fields(hi, t1.zone);
    let year = f2.year - f1.year, month = f2.month - f1.month, day = f2.day - f1.day;
    let hour = f2.hour - f1.hour, min = f2.minute - f1.minute, sec = f2.second - f1.second;
    if (sec < 0) { sec += 60; min--; }
    if (min < 0) { min += 60; hour--; }
    if (hour < 0) { hour += 24; day--; }
    if (day < 0) { day += daysIn(f1.month, f1.year); month--; }
    if (month < 0) { month += 12; year--; }
    return [year, month, day, hour, min, sec];
  },
  'time.format': (x) => {
    const { ns, zone, layout } = tzTime(x);
    return formatLayout(ns, zone, layout === '' ? NAMED_LAYOUTS.RFC3339Nano! : NAMED_LAYOUTS[layout] ?? layout);
  },
};
