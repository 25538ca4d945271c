/**
 * Instants and calendar fields the way Go's `time` package sees them, for the time.* builtins.
 * An instant is a bigint of nanoseconds since the Unix epoch (OPA's representation); a zone is a fixed offset or an
 * IANA name resolved through Intl (Node ships the full ICU time zone database).
 */

export const NS_PER_SEC = 1_000_000_000n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's time.Weekday names, Sunday first. */
export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;
export const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;

export class BuiltinError extends Error {}

/** OPA refuses instants whose nanosecond count does not fit an int64 ("time outside of valid range"). */
export function checkRange(ns: bigint): bigint {
  if (ns < INT64_MIN || ns > INT64_MAX) throw new BuiltinError('time outside of valid range');
  return ns;
}

export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1-12; out-of-range months and days normalise as in Go). */
export function daysFromCivil(y: number, m: number, d: number): number {
  // Normalise the month first, as Go's time.Date does (month 13 is January of the next year).
  const m0 = m - 1;
  y += Math.floor(m0 / 12);
  m = (((m0 % 12) + 12) % 12) + 1;
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(z: number): { y: number; m: number; d: number } {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}

export function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

export function daysIn(m: number, y: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}

/** A time zone: its name as given (for formatting) and the UTC offset in seconds at an instant. */
export interface Zone {
  name: string;
  offsetAt(epochSec: number): number;
}

export const UTC: Zone = { name: 'UTC', offsetAt: () => 0 };

export function fixedZone(name: string, offsetSec: number): Zone {
  return { name, offsetAt: () => offsetSec };
}

const zoneCache = new Map<string, Zone>();

/**
 * Go's time.LoadLocation: "" and "UTC" are UTC, "Local" is the gateway's zone, anything else an IANA name.
 * Intl matches names case-insensitively while Go's zoneinfo lookup does not; a name that differs from the resolved
 * one only in case is refused so "utc" or "europe/paris" fail as they do in OPA.
 */
export function loadZone(name: string): Zone {
  if (name === '' || name === 'UTC') return UTC;
  const hit = zoneCache.get(name);
  if (hit) return hit;
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name === 'Local' ? undefined : name,
      hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
      era: 'short',
    });
  } catch {
    throw new BuiltinError(`unknown time zone ${name}`);
  }
  const resolved = fmt.resolvedOptions().timeZone;
  if (name !== 'Local' && resolved !== name && resolved.toLowerCase() === name.toLowerCase()) throw new BuiltinError(`unknown time zone ${name}`);
  const zone: Zone = {
    name: name === 'Local' ? 'Local' : name,
    offsetAt(epochSec: number): number {
      // Intl only formats; the offset is the formatted wall clock read back as UTC minus the instant.
      const parts: Record<string, string> = {};
      for (const p of fmt.formatToParts(new Date(epochSec * 1000))) parts[p.type] = p.value;
      let y = Number(parts.year);
      if (parts.era === 'BC' || parts.era === 'B') y = 1 - y;
      const wall = daysFromCivil(y, Number(parts.month), Number(parts.day)) * 86400 + Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second);
      return wall - epochSec;
    },
  };
  if (zoneCache.size > 256) zoneCache.clear();
  zoneCache.set(name, zone);
  return zone;
}

/** Calendar fields of an instant in a zone, as Go's Time.Date, Time.Clock and Time.Weekday report them. */
export interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nsec: number;
  weekday: number;
  yday: number;
  offset: number;
}

export function fields(ns: bigint, zone: Zone): Fields {
  const sec = floorDiv(ns, NS_PER_SEC);
  const nsec = Number(ns - sec * NS_PER_SEC);
  const offset = zone.offsetAt(Number(sec));
  const local = Number(sec) + offset;
  const days = Math.floor(local / 86400);
  const rem = local - days * 86400;
  const { y, m, d } = civilFromDays(days);
  return {
    year: y, month: m, day: d,
    hour: Math.floor(rem / 3600), minute: Math.floor((rem % 3600) / 60), second: rem % 60, nsec,
    weekday: (((days + 4) % 7) + 7) % 7,
    yday: days - daysFromCivil(y, 1, 1) + 1,
    offset,
  };
}

/**
 * Go's time.Date in a zone: wall-clock fields (normalised) to an instant. Go resolves an ambiguous or skipped wall
 * time with the offset in effect just before the transition; trying the offset at the naive UTC guess and then the
 * offset at the corrected instant gives the same answer outside the transition hour itself.
 */
export function fromFields(y: number, mo: number, d: number, h: number, mi: number, s: number, nsec: bigint, zone: Zone): bigint {
  const wall = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h) * 3600n + BigInt(mi) * 60n + BigInt(s);
  let offset = zone.offsetAt(Number(wall));
  const second = zone.offsetAt(Number(wall) - offset);
  if (second !== offset) offset = second;
  return (wall - BigInt(offset)) * NS_PER_SEC + nsec;
}
