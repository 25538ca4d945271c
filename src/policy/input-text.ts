/**
 * Serializes a policy input document for the WASM engine. opa-wasm would JSON.stringify the input itself, but OPA's
 * JSON parser inside the module refuses a lone UTF-16 surrogate escape ("\ud800": "illegal string escape
 * character"), and such a string is legal JSON that any upstream or client may send. One bad tool description would
 * then fail every evaluation that includes it, i.e. deny a whole endpoint. So the input is serialized here and every
 * lone surrogate becomes U+FFFD, exactly what OPA's own (Go) JSON decoder makes of it: a policy sees the same string
 * here as it would in `opa eval` or an OPA server.
 */

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
