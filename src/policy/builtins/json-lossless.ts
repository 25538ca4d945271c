/**
 * A strict JSON parser that keeps every number as its source text (RawJSON), so a document such as a JWT payload
 * reaches the policy with its numbers exact, as OPA's own decoder keeps them. Duplicate keys: the last one wins, as
 * in Go's encoding/json.
 */
import { BuiltinError } from './civil.js';
import { RawJSON } from './values.js';

const WS = /[ \t\n\r]*/y;
const NUM = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STR = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const MAX_DEPTH = 512;

export function parseJSONLossless(text: string): unknown {
  let i = 0;
  const fail = (): never => {
    throw new BuiltinError('invalid JSON');
  };
  const ws = () => {
    WS.lastIndex = i;
    WS.exec(text);
    i = WS.lastIndex;
  };
  const token = (re: RegExp): string | null => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return null;
    i = re.lastIndex;
    return m[0];
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail();
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        const k = token(STR) ?? fail();
        ws();
        if (text[i++] !== ':') fail();
        const v = value(depth + 1);
        Object.defineProperty(obj, JSON.parse(k) as string, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === '}') return obj;
        fail();
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === ']') return arr;
        fail();
      }
    }
    if (c === '"') return JSON.parse(token(STR) ?? fail());
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(lit, i)) { i += lit.length; return v; }
    }
    return new RawJSON(token(NUM) ?? fail());
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail();
  return v;
}
