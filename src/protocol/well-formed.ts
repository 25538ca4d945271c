/**
 * Lone UTF-16 surrogates in parsed JSON. They are legal in JSON text ("\ud800") but are not Unicode characters: UTF-8
 * cannot carry them, and decoders disagree (Go and OPA give U+FFFD, serde_json and PostgreSQL jsonb refuse, Python
 * keeps them). The gateway replaces them with U+FFFD wherever a value is judged by policy or handed to clients, so
 * every party sees the same string.
 */
const ANY_SURROGATE = /[\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The string with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, which ES2022 lacks). */
export function wellFormed(s: string): string {
  return ANY_SURROGATE.test(s) ? s.replace(LONE_SURROGATE, '\ufffd') : s;
}

/**
 * Replaces lone surrogates in every string and key of a parsed JSON value, in place. Iterative, so a deeply nested
 * value (the body limit allows thousands of levels) cannot exhaust the stack.
 */
export function makeWellFormed(root: unknown): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'string') {
          const w = wellFormed(v);
          if (w !== v) node[i] = w;
        } else if (typeof v === 'object' && v !== null) stack.push(v);
      }
    } else if (typeof node === 'object' && node !== null) {
      const o = node as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        const v = o[key];
        const k = wellFormed(key);
        if (k !== key) {
          delete o[key];
          o[k] = v;
        }
        if (typeof v === 'string') {
          const w = wellFormed(v);
          if (w !== v) o[k] = w;
        } else if (typeof v === 'object' && v !== null) stack.push(v);
      }
    }
  }
}
