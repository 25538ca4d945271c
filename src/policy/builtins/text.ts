/** String and regex builtins that OPA does not compile into WASM (v1/topdown/strings.go, regex.go). */
import { BuiltinError } from './civil.js';
import { int, str, strings, type Builtin } from './values.js';

const MAX_CACHED = 100;
const cache = new Map<string, RegExp>();

/**
 * A Go (RE2) pattern as a JavaScript RegExp. The common syntax is shared; these differences are translated: leading
 * inline flags (?i)(?s)(?m), named groups (?P<name>), \A and \z. Anything JavaScript cannot compile is an error
 * (undefined in the policy), never a different match.
 */
export function goRegExp(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let src = pattern;
  let flags = 'gu';
  const lead = /^\(\?([ism]+)\)/.exec(src);
  if (lead) {
    flags += [...new Set(lead[1])].join('');
    src = src.slice(lead[0].length);
  }
  src = src.replace(/\(\?P</g, '(?<').replace(/\\A/g, '(?<![\\s\\S])').replace(/\\z/g, '(?![\\s\\S])');
  let re: RegExp;
  try {
    re = new RegExp(src, flags);
  } catch {
    throw new BuiltinError(`invalid regular expression: ${pattern}`);
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(pattern, re);
  return re;
}

/** Go's Regexp.FindAllString(s, n): n < 0 means all; an empty match right after a previous match is skipped. */
export function findAll(re: RegExp, s: string, n: number): string[] {
  const out: string[] = [];
  let pos = 0;
  let prevEnd = -1;
  while ((n < 0 || out.length < n) && pos <= s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    let accept = true;
    if (end === pos) {
      if (start === prevEnd) accept = false;
      pos += pos < s.length && (s.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1;
    } else {
      pos = end;
    }
    prevEnd = end;
    if (accept) out.push(m[0]);
  }
  return out;
}

/** Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; an unknown group is empty, a malformed reference literal. */
function expand(template: string, m: RegExpExecArray): string {
  let out = '';
  for (;;) {
    const at = template.indexOf('$');
    if (at < 0) return out + template;
    out += template.slice(0, at);
    template = template.slice(at + 1);
    if (template[0] === '$') {
      out += '$';
      template = template.slice(1);
      continue;
    }
    const ref = /^(?:\{([\p{L}\p{Nd}_]+)\}|([\p{L}\p{Nd}_]+))/u.exec(template);
    if (!ref) {
      out += '$';
      continue;
    }
    template = template.slice(ref[0].length);
    const name = ref[1] ?? ref[2]!;
    // A reference is a group number only if it is all ASCII digits without a leading zero (and below 1e8), as in Go.
    const num = /^(?:0|[1-9]\d{0,7})$/.test(name) ? Number(name) : -1;
    out += (num >= 0 ? m[num] : m.groups?.[name]) ?? '';
  }
}

/** Go's Regexp.ReplaceAllString, including its rule for empty matches right after a match. */
function replaceAll(re: RegExp, src: string, template: string): string {
  let out = '';
  let lastEnd = 0;
  let pos = 0;
  while (pos <= src.length) {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastEnd, start);
    if (end > lastEnd || start === 0) out += expand(template, m);
    lastEnd = end;
    const width = pos < src.length && (src.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1;
    if (pos + width > end) pos += width;
    else if (pos + 1 > end) pos++;
    else pos = end;
  }
  return out + src.slice(lastEnd);
}

/** Go's url.QueryEscape: every byte but the unreserved ones percent-encoded (upper-case hex), space as '+'. */
function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Go's url.QueryUnescape: '+' is a space; a '%' must start two hex digits. */
function queryUnescape(s: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) throw new BuiltinError('invalid URL escape');
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (s[i] === '+') {
      bytes.push(0x20);
    } else {
      bytes.push(...Buffer.from(s[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export const textBuiltins: Record<string, Builtin> = {
  'urlquery.encode': (x) => queryEscape(str(x)),
  'urlquery.decode': (x) => queryUnescape(str(x)),
  'strings.any_prefix_match': (search, base) => {
    const ss = strings(search, 1), bs = strings(base, 2);
    return ss.some((s) => bs.some((b) => s.startsWith(b)));
  },
  'strings.any_suffix_match': (search, base) => {
    const ss = strings(search, 1), bs = strings(base, 2);
    return ss.some((s) => bs.some((b) => s.endsWith(b)));
  },
  'regex.replace': (s, pattern, value) => replaceAll(goRegExp(str(pattern, 2)), str(s), str(value, 3)),
  'regex.find_n': (pattern, value, number) => {
    const p = str(pattern), v = str(value, 2), n = int(number, 3);
    return findAll(goRegExp(p), v, n);
  },
  'strings.count': (search, substring) => {
    const s = str(search), sub = str(substring, 2);
    // Go's strings.Count: non-overlapping; an empty substring counts the runes plus one.
    if (sub === '') return [...s].length + 1;
    return s.split(sub).length - 1;
  },
  'indexof_n': (string, search) => {
    const base = [...str(string)], needle = [...str(search, 2)];
    if (needle.length === 0) throw new BuiltinError('empty search character');
    const out: number[] = [];
    // Overlapping matches, at rune (code point) offsets.
    for (let i = 0; i + needle.length <= base.length; i++) {
      if (needle.every((c, j) => base[i + j] === c)) out.push(i);
    }
    return out;
  },
};
