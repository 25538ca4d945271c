/**
 * Serializes a policy input document for the WASM engine. opa-wasm would JSON.stringify the input itself, but OPA's
 * JSON parser inside the module refuses a lone UTF-16 surrogate escape ("\ud800": "illegal string escape
 * character"), and such a string is legal JSON that any upstream or client may send. One bad tool description would
 * then fail every evaluation that includes it, i.e. deny a whole endpoint. So the input is serialized here and every
 * lone surrogate becomes U+FFFD, exactly what OPA's own (Go) JSON decoder makes of it: a policy sees the same string
 * here as it would in `opa eval` or an OPA server.
 *
 * Call arguments get the same replacement in place (makeWellFormed, called by authorize.ts) before policy sees them,
 * so the upstream receives exactly the value policy judged. Forwarding the lone surrogate instead would leave a
 * parser differential: upstream decoders disagree on it (Go gives U+FFFD, serde_json refuses it, Python keeps it and
 * may later drop it), so a rule that denied "rm -rf" could be passed by "rm\ud800-rf" turning into "rm-rf" upstream.
 * Audit sinks need it too: PostgreSQL jsonb refuses a lone surrogate escape. A lone surrogate is not a Unicode
 * character and no UTF-8 text can carry it, so no real text is lost.
 */

export { makeWellFormed } from '../protocol/well-formed.js';

const encoder = new TextEncoder();

// JSON.stringify (well-formed since ES2019) writes a paired surrogate as the character itself and a lone one as a
// "\udXXX" escape, so a surrogate escape in its output is always a lone one. It is a real escape only when preceded by
// an odd run of backslashes: in "\\ud800" the backslash is escaped and "ud800" is plain text.
const LONE_SURROGATE_ESCAPE = /(\\+)u(d[89a-f][0-9a-f]{2})/g;

/** The input as UTF-8 JSON with lone surrogates replaced by U+FFFD; what opa-wasm's evaluate() accepts as ArrayBuffer. */
export function encodePolicyInput(input: unknown): ArrayBuffer {
  let text = JSON.stringify(input) ?? 'null';
  // Fast path: the common input has no "\ud" sequence at all, and includes() costs far less than the regex.
  if (text.includes('\\ud')) {
    text = text.replace(LONE_SURROGATE_ESCAPE, (whole: string, slashes: string) =>
      slashes.length % 2 === 1 ? `${slashes.slice(1)}\ufffd` : whole,
    );
  }
  const bytes = encoder.encode(text);
  // opa-wasm reads the whole ArrayBuffer, so it must hold exactly these bytes.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}

