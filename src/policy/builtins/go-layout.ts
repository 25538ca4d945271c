/**
 * Go reference-time layouts ("2006-01-02T15:04:05Z07:00"), parsed and formatted as Go's time.Parse and Time.Format
 * do, because time.parse_ns and time.format take Go layouts and no JavaScript date library speaks them.
 * Written from Go's documented behaviour; test/cases/builtins/ checks it against the OPA CLI.
 */
import { BuiltinError, checkRange, daysIn, fields, fromFields, MONTHS, NS_PER_SEC, UTC, WEEKDAYS, type Zone } from './civil.js';

/** Layout names OPA accepts in place of a layout (time.parse_ns, time.format). */
export const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
};

type Std =
  | 'Jan' | 'January' | 'Mon' | 'Monday' | 'MST' | '01' | '1' | '02' | '2' | '_2' | '002' | '__2' | '06' | '2006'
  | '15' | '3' | '03' | '4' | '04' | '5' | '05' | 'PM' | 'pm'
  | 'Z070000' | 'Z07:00:00' | 'Z0700' | 'Z07:00' | 'Z07' | '-070000' | '-07:00:00' | '-0700' | '-07:00' | '-07'
  | 'frac0' | 'frac9';

interface Chunk { prefix: string; std: Std | null; digits: number; suffix: string; sep?: string }

const isDigit = (s: string, i: number) => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

/** Go's nextStdChunk: the literal text before the first layout element, the element, and the rest. */
function nextChunk(layout: string): Chunk {
  for (let i = 0; i < layout.length; i++) {
    const rest = layout.slice(i);
    const at = (std: Std, len: number, digits = 0): Chunk => ({ prefix: layout.slice(0, i), std, digits, suffix: layout.slice(i + len) });
    switch (layout[i]) {
      case 'J':
        if (rest.startsWith('January')) return at('January', 7);
        // "Jan" followed by a lower-case letter is literal text ("Janet"), as in Go.
        if (rest.startsWith('Jan') && !/^[a-z]/.test(rest.slice(3))) return at('Jan', 3);
        break;
      case 'M':
        if (rest.startsWith('Monday')) return at('Monday', 6);
        if (rest.startsWith('Mon') && !/^[a-z]/.test(rest.slice(3))) return at('Mon', 3);
        if (rest.startsWith('MST')) return at('MST', 3);
        break;
      case '0':
        if (rest.startsWith('002')) return at('002', 3);
        if (/^0[1-6]/.test(rest)) return at(rest.slice(0, 2) as Std, 2);
        break;
      case '1':
        if (rest.startsWith('15')) return at('15', 2);
        return at('1', 1);
      case '2':
        if (rest.startsWith('2006')) return at('2006', 4);
        return at('2', 1);
      case '_':
        if (rest.startsWith('_2')) {
          // "_2006" is a literal underscore and a year, not "_2" followed by "006".
          if (rest.startsWith('_2006')) return { prefix: layout.slice(0, i + 1), std: '2006', digits: 0, suffix: layout.slice(i + 5) };
          return at('_2', 2);
        }
        if (rest.startsWith('__2')) return at('__2', 3);
        break;
      case '3': case '4': case '5':
        return at(layout[i] as Std, 1);
      case 'P':
        if (rest.startsWith('PM')) return at('PM', 2);
        break;
      case 'p':
        if (rest.startsWith('pm')) return at('pm', 2);
        break;
      case '-':
        for (const s of ['-070000', '-07:00:00', '-0700', '-07:00', '-07'] as const) if (rest.startsWith(s)) return at(s, s.length);
        break;
      case 'Z':
        for (const s of ['Z070000', 'Z07:00:00', 'Z0700', 'Z07:00', 'Z07'] as const) if (rest.startsWith(s)) return at(s, s.length);
        break;
      case '.': case ',':
        if (layout[i + 1] === '0' || layout[i + 1] === '9') {
          const ch = layout[i + 1]!;
          let j = i + 1;
          while (j < layout.length && layout[j] === ch) j++;
          if (!isDigit(layout, j)) return { ...at(ch === '0' ? 'frac0' : 'frac9', j - i, j - i - 1), sep: layout[i]! };
        }
        break;
    }
  }
  return { prefix: layout, std: null, digits: 0, suffix: '' };
}

const bad = (what = 'cannot parse') => new BuiltinError(`parsing time: ${what}`);

/** Go's getnum: one or two digits, exactly two when fixed. */
function getnum(s: string, fixed: boolean): [number, string] {
  if (!isDigit(s, 0)) throw bad();
  if (!isDigit(s, 1)) {
    if (fixed) throw bad();
    return [s.charCodeAt(0) - 48, s.slice(1)];
  }
  return [(s.charCodeAt(0) - 48) * 10 + s.charCodeAt(1) - 48, s.slice(2)];
}

/** Go's getnum3 (day of year): up to three digits, exactly three when fixed. */
function getnum3(s: string, fixed: boolean): [number, string] {
  let n = 0, i = 0;
  for (; i < 3 && isDigit(s, i); i++) n = n * 10 + s.charCodeAt(i) - 48;
  if (i === 0 || (fixed && i !== 3)) throw bad();
  return [n, s.slice(i)];
}

function lookupName(names: readonly string[], value: string): [number, string] {
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (value.length >= n.length && value.slice(0, n.length).toLowerCase() === n.toLowerCase()) return [i, value.slice(n.length)];
  }
  throw bad();
}

/** Go's skip: literal layout text; a space in the layout matches one or more spaces in the value. */
function skip(value: string, prefix: string): string {
  while (prefix.length > 0) {
    if (prefix[0] === ' ') {
      if (value.length > 0 && value[0] !== ' ') throw bad();
      prefix = prefix.replace(/^ +/, '');
      value = value.replace(/^ +/, '');
      continue;
    }
    if (value.length === 0 || value[0] !== prefix[0]) throw bad();
    prefix = prefix.slice(1);
    value = value.slice(1);
  }
  return value;
}

/** Fractional seconds: value starts with '.' or ','; at most nine digits count, as in Go. */
function parseNanos(value: string, nbytes: number): bigint {
  if (value[0] !== '.' && value[0] !== ',') throw bad();
  if (nbytes > 10) nbytes = 10;
  const digits = value.slice(1, nbytes);
  if (!/^\d+$/.test(digits)) throw bad();
  return BigInt(digits.padEnd(9, '0'));
}

/** Go's parseTimeZone: how many bytes of value look like a zone abbreviation (0 if none). */
function zoneAbbrevLength(value: string): number {
  if (value.length < 3) return 0;
  if (value.length >= 4 && (value.startsWith('ChST') || value.startsWith('MeST'))) return 4;
  if (value.startsWith('GMT')) {
    // GMT followed by an optional signed hour offset.
    const m = /^GMT([+-])(\d+)/.exec(value);
    if (!m) return 3;
    const h = Number(m[2]);
    if (m[2]!.startsWith('0') || h > 24 || (m[1] === '-' ? h > 12 : h > 14)) return 3;
    return 3 + 1 + m[2]!.length;
  }
  if (value[0] === '+' || value[0] === '-') {
    const m = /^[+-]\d+/.exec(value);
    return m ? m[0].length : 0;
  }
  let n = 0;
  while (n < 6 && n < value.length && value[n]! >= 'A' && value[n]! <= 'Z') n++;
  switch (n) {
    case 0: case 1: case 2: case 6: return 0;
    case 5: return value[4] === 'T' ? 5 : 0;
    case 4: return value[3] === 'T' || value.startsWith('WITA') ? 4 : 0;
    default: return 3;
  }
}

/** Go's time.Parse(layout, value) in UTC, returning nanoseconds since the epoch. */
export function parseLayout(layout: string, value: string): bigint {
  let year = 0, month = -1, day = -1, yday = -1, hour = 0, min = 0, sec = 0;
  let nsec = 0n;
  let pmSet = false, amSet = false;
  let offset: number | null = null;
  for (;;) {
    const { prefix, std, digits, suffix } = nextChunk(layout);
    value = skip(value, prefix);
    if (std === null) {
      if (value.length !== 0) throw bad('extra text');
      break;
    }
    layout = suffix;
    switch (std) {
      case '06': {
        if (!/^\d\d/.test(value)) throw bad();
        year = Number(value.slice(0, 2));
        year += year >= 69 ? 1900 : 2000;
        value = value.slice(2);
        break;
      }
      case '2006':
        if (value.length < 4 || !/^\d{4}/.test(value)) throw bad();
        year = Number(value.slice(0, 4));
        value = value.slice(4);
        break;
      case 'Jan': [month, value] = lookupName(MONTHS.map((m) => m.slice(0, 3)), value); month++; break;
      case 'January': [month, value] = lookupName(MONTHS, value); month++; break;
      case '01': case '1':
        [month, value] = getnum(value, std === '01');
        if (month <= 0 || month > 12) throw bad('month out of range');
        break;
      case 'Mon': [, value] = lookupName(WEEKDAYS.map((d) => d.slice(0, 3)), value); break;
      case 'Monday': [, value] = lookupName(WEEKDAYS, value); break;
      case '02': case '2': case '_2':
        if (std === '_2' && value[0] === ' ') value = value.slice(1);
        [day, value] = getnum(value, std === '02');
        break;
      case '002': case '__2':
        if (std === '__2') value = value.replace(/^ {1,2}/, '');
        [yday, value] = getnum3(value, std === '002');
        if (yday < 1 || yday > 366) throw bad('day-of-year out of range');
        break;
      case '15':
        [hour, value] = getnum(value, false);
        if (hour < 0 || hour >= 24) throw bad('hour out of range');
        break;
      case '3': case '03':
        [hour, value] = getnum(value, std === '03');
        if (hour < 0 || hour > 12) throw bad('hour out of range');
        break;
      case '4': case '04':
        [min, value] = getnum(value, std === '04');
        if (min < 0 || min >= 60) throw bad('minute out of range');
        break;
      case '5': case '05': {
        [sec, value] = getnum(value, std === '05');
        if (sec < 0 || sec >= 60) throw bad('second out of range');
        // A fraction in the value with none in the layout is still read, as Go does.
        if (value.length >= 2 && (value[0] === '.' || value[0] === ',') && isDigit(value, 1)) {
          const next = nextChunk(layout).std;
          if (next === 'frac0' || next === 'frac9') break;
          let n = 2;
          while (n < value.length && isDigit(value, n)) n++;
          nsec = parseNanos(value, n);
          value = value.slice(n);
        }
        break;
      }
      case 'PM': case 'pm': {
        if (value.length < 2) throw bad();
        const p = value.slice(0, 2);
        value = value.slice(2);
        if (p === (std === 'PM' ? 'PM' : 'pm')) pmSet = true;
        else if (p === (std === 'PM' ? 'AM' : 'am')) amSet = true;
        else throw bad();
        break;
      }
      case 'Z070000': case 'Z07:00:00': case 'Z0700': case 'Z07:00': case 'Z07':
      case '-070000': case '-07:00:00': case '-0700': case '-07:00': case '-07': {
        if (std.startsWith('Z') && value[0] === 'Z') {
          value = value.slice(1);
          offset = 0;
          break;
        }
        let sign: string, hh: string, mm = '00', ss = '00';
        const shape = std.slice(1);
        if (shape === '07:00') {
          if (value.length < 6 || value[3] !== ':') throw bad();
          [sign, hh, mm, value] = [value[0]!, value.slice(1, 3), value.slice(4, 6), value.slice(6)];
        } else if (shape === '07') {
          if (value.length < 3) throw bad();
          [sign, hh, value] = [value[0]!, value.slice(1, 3), value.slice(3)];
        } else if (shape === '07:00:00') {
          if (value.length < 9 || value[3] !== ':' || value[6] !== ':') throw bad();
          [sign, hh, mm, ss, value] = [value[0]!, value.slice(1, 3), value.slice(4, 6), value.slice(7, 9), value.slice(9)];
        } else if (shape === '070000') {
          if (value.length < 7) throw bad();
          [sign, hh, mm, ss, value] = [value[0]!, value.slice(1, 3), value.slice(3, 5), value.slice(5, 7), value.slice(7)];
        } else {
          if (value.length < 5) throw bad();
          [sign, hh, mm, value] = [value[0]!, value.slice(1, 3), value.slice(3, 5), value.slice(5)];
        }
        const [h] = getnum(hh, true);
        const [m] = getnum(mm, true);
        const [s] = getnum(ss, true);
        if (h > 24) throw bad('time zone offset hour out of range');
        if (m > 60) throw bad('time zone offset minute out of range');
        if (s > 60) throw bad('time zone offset second out of range');
        if (sign !== '+' && sign !== '-') throw bad();
        offset = (h * 3600 + m * 60 + s) * (sign === '-' ? -1 : 1);
        break;
      }
      case 'MST': {
        if (value.startsWith('UTC')) {
          value = value.slice(3);
          offset = 0;
          break;
        }
        const n = zoneAbbrevLength(value);
        if (n === 0) throw bad();
        value = value.slice(n);
        // time.Parse runs in UTC: an abbreviation (GMT+h included) names a zone but leaves the instant as if UTC.
        offset = 0;
        break;
      }
      case 'frac0': {
        const n = 1 + digits;
        if (value.length < n) throw bad();
        nsec = parseNanos(value, n);
        value = value.slice(n);
        break;
      }
      case 'frac9': {
        if (value.length < 2 || (value[0] !== '.' && value[0] !== ',') || !isDigit(value, 1)) break;
        let i = 0;
        while (isDigit(value, i + 1)) i++;
        nsec = parseNanos(value, 1 + i);
        value = value.slice(1 + i);
        break;
      }
    }
  }
  if (pmSet && hour < 12) hour += 12;
  else if (amSet && hour === 12) hour = 0;
  if (yday >= 0) {
    let d: number, m: number;
    if (yday > 365 + (daysIn(2, year) === 29 ? 1 : 0)) throw bad('day-of-year out of range');
    if (month < 0 && day < 0) {
      let left = yday;
      for (m = 1; left > daysIn(m, year); m++) left -= daysIn(m, year);
      d = left;
    } else {
      [m, d] = [month, day];
      let check = d;
      for (let i = 1; i < m; i++) check += daysIn(i, year);
      if (check !== yday) throw bad('day-of-year does not match month');
    }
    month = m;
    day = d;
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > daysIn(month, year)) throw bad('day out of range');
  const ns = fromFields(year, month, day, hour, min, sec, nsec, UTC) - BigInt(offset ?? 0) * NS_PER_SEC;
  return checkRange(ns);
}

/**
 * Go's RFC 3339 parsing: a strict fast path (four-digit year, two-digit fields, '.' fraction, "Z" or ±hh:mm), and
 * when that fails, the general layout parser, exactly as time.Parse(time.RFC3339, s) does.
 */
export function parseRFC3339(value: string): bigint {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(value);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const okOffset = m[8] === 'Z' || (Number(m[10]) <= 23 && Number(m[11]) <= 59);
    if (mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h <= 23 && mi <= 59 && s <= 59 && okOffset) {
      const nsec = m[7] ? BigInt(m[7].slice(0, 9).padEnd(9, '0')) : 0n;
      const off = m[8] === 'Z' ? 0 : (Number(m[10]) * 3600 + Number(m[11]) * 60) * (m[9] === '-' ? -1 : 1);
      return checkRange(fromFields(y, mo, d, h, mi, s, nsec, UTC) - BigInt(off) * NS_PER_SEC);
    }
  }
  return parseLayout(NAMED_LAYOUTS.RFC3339!, value);
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Go's Time.Format for an instant in a zone. */
export function formatLayout(ns: bigint, zone: Zone, layout: string): string {
  const f = fields(ns, zone);
  let out = '';
  for (;;) {
    const { prefix, std, digits, suffix, sep = '.' } = nextChunk(layout);
    out += prefix;
    if (std === null) break;
    layout = suffix;
    const h12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
    switch (std) {
      case '06': out += pad(((f.year % 100) + 100) % 100, 2); break;
      case '2006': out += f.year < 0 ? '-' + pad(-f.year, 4) : pad(f.year, 4); break;
      case 'Jan': out += MONTHS[f.month - 1]!.slice(0, 3); break;
      case 'January': out += MONTHS[f.month - 1]; break;
      case '01': out += pad(f.month, 2); break;
      case '1': out += f.month; break;
      case 'Mon': out += WEEKDAYS[f.weekday]!.slice(0, 3); break;
      case 'Monday': out += WEEKDAYS[f.weekday]; break;
      case '02': out += pad(f.day, 2); break;
      case '2': out += f.day; break;
      case '_2': out += String(f.day).padStart(2, ' '); break;
      case '002': out += pad(f.yday, 3); break;
      case '__2': out += String(f.yday).padStart(3, ' '); break;
      case '15': out += pad(f.hour, 2); break;
      case '3': out += h12; break;
      case '03': out += pad(h12, 2); break;
      case '4': out += f.minute; break;
      case '04': out += pad(f.minute, 2); break;
      case '5': out += f.second; break;
      case '05': out += pad(f.second, 2); break;
      case 'PM': out += f.hour >= 12 ? 'PM' : 'AM'; break;
      case 'pm': out += f.hour >= 12 ? 'pm' : 'am'; break;
      case 'MST':
        // Go prints the zone's abbreviation from the tz database; Intl has no such names, so only UTC and fixed
        // offsets format as Go does (an offset prints as -0700, which is what Go prints for an unnamed zone).
        out += f.offset === 0 && (zone.name === 'UTC' || zone.name === '') ? 'UTC' : offsetText(f.offset, '-0700');
        break;
      case 'frac0': out += sep + pad(f.nsec, 9).slice(0, digits); break;
      case 'frac9': {
        const s = pad(f.nsec, 9).slice(0, digits).replace(/0+$/, '');
        if (s) out += sep + s;
        break;
      }
      default:
        // Numeric zone offsets; the Z forms print "Z" at offset zero.
        if (std.startsWith('Z') && f.offset === 0) out += 'Z';
        else out += offsetText(f.offset, '-' + std.slice(1));
    }
  }
  return out;
}

function offsetText(offset: number, shape: string): string {
  const sign = offset < 0 ? '-' : '+';
  const a = Math.abs(offset);
  const [h, m, s] = [pad(Math.floor(a / 3600), 2), pad(Math.floor((a % 3600) / 60), 2), pad(a % 60, 2)];
  switch (shape) {
    case '-07': return sign + h;
    case '-07:00': return `${sign}${h}:${m}`;
    case '-07:00:00': return `${sign}${h}:${m}:${s}`;
    case '-070000': return sign + h + m + s;
    default: return sign + h + m;
  }
}
