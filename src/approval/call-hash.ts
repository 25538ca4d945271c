/** The canonical form of a call and its keyed hash, which binds an approval to exactly one call by one identity. */

/**
 * JSON with object keys sorted at every level, so that `{a,b}` and `{b,a}` are the same call. Arrays keep their
 * order (it is meaningful); -0 and 0 are one number, as JSON.stringify already says.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export interface CallIdentity {
  server: string;
  tool: string;
  /** The raw arguments, as they will run: the hash must change with any of them, redacted or not. */
  arguments: unknown;
  /** Subject.principal (issuer and subject) of the requester. */
  principal: string;
}

/**
 * The hash is keyed (HMAC with the deployment key) and never a plain digest: arguments that reviewers only see
 * masked (a card number) must not be recoverable by guessing against a published hash.
 */
export function callHash(call: CallIdentity, keyedHash: (value: string) => string): string {
  return keyedHash(canonicalJson({ v: 1, server: call.server, tool: call.tool, arguments: call.arguments, principal: call.principal }));
}
