/**
 * OPA's canonical JSON for hashing structured bundle files (data.json, .manifest), reproduced for verification:
 * keys sorted by UTF-8 bytes, no whitespace, numbers as their original text, strings escaped as Go's encoder does
 * with HTML escaping off. Hand-written because JSON.parse loses number text ("1.0" vs "1", big integers) and
 * JSON.stringify escapes differently (U+2028/U+2029), and either would break the digest.
 */

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/** Re-serializes JSON text canonically. */
export function canonicalJson(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (what: string): never => {
    throw new CanonicalJsonError(`invalid JSON at offset ${i}: ${what}`);
  };

  const readString = (): string => {
    // Returns the decoded string; the caller re-encodes it canonically.
    let out = '';
    i++; // opening quote
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            fail('bad escape');
        }
        continue;
      }
      out += c;
      i++;
    }
    return fail('unterminated string');
  };

  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members: Array<[string, string]> = [];
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = readString();
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        members.push([key, value()]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          break;
        }
        fail('expected , or }');
      }
      // Go sorts map keys by their UTF-8 bytes; JavaScript's default sort compares UTF-16 units.
      members.sort((a, b) => Buffer.compare(Buffer.from(a[0], 'utf8'), Buffer.from(b[0], 'utf8')));
      return `{${members.map(([k, v]) => `${encodeString(k)}:${v}`).join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          break;
        }
        fail('expected , or ]');
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return encodeString(readString());
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    return m[0];
  };

  const out = value();
  ws();
  if (i !== text.length) fail('trailing data');
  return out;
}

/** Go's encoding/json string encoding with SetEscapeHTML(false). */
function encodeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else if (code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16)}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += '\ufffd'; // a lone surrogate is invalid UTF-8; Go writes U+FFFD
    else out += ch;
  }
  return out + '"';
}
