/**
 * The one error → audit outcome table, beside the one error → JSON-RPC mapper (to-json-rpc.ts). Every handler's
 * failure is classified here and nowhere else, so "was this a refusal or a fault?" has one answer.
 *
 *   refusal (`deny`)        the gateway decided no: policy, an unknown or hidden target, an exhausted quota
 *   `invalid`               the request itself is wrong (arguments against the schema, malformed params)
 *   `approval_required`     a human decides, or decided no
 *   `allow`                 policy allowed it and the upstream answered with its own error
 *   `error`                 a fault: policy unavailable, credential, upstream unreachable, audit, a bug
 */
import * as codes from './codes.js';
import { GatewayError } from './gateway-error.js';

export type Outcome = 'allow' | 'deny' | 'invalid' | 'approval_required' | 'error';

const BY_CODE = new Map<number, Outcome>([
  [codes.POLICY_DENIED, 'deny'],
  [codes.QUOTA_EXHAUSTED, 'deny'],
  [codes.RESOURCE_NOT_FOUND, 'deny'],
  [codes.APPROVAL_REQUIRED, 'approval_required'],
  [codes.POLICY_UNAVAILABLE, 'error'],
  [codes.QUOTA_UNAVAILABLE, 'error'],
  [codes.CREDENTIAL_UNAVAILABLE, 'error'],
  [codes.AUDIT_UNAVAILABLE, 'error'],
  [codes.UPSTREAM_UNAVAILABLE, 'error'],
  [codes.UPSTREAM_TIMEOUT, 'error'],
]);

/**
 * @param upstreamAnswered true when the error is the upstream's own JSON-RPC error (the call was allowed and ran).
 */
export function outcomeOf(err: unknown, upstreamAnswered = false): Outcome {
  if (!(err instanceof GatewayError)) return 'error';
  if (upstreamAnswered && err.stage === 'upstream') return 'allow';
  const known = BY_CODE.get(err.code);
  if (known) return known;
  if (err.code === codes.INVALID_PARAMS) return err.stage === 'catalog' ? 'deny' : 'invalid';
  if (err.stage === 'catalog' || err.stage === 'policy') return 'deny';
  return 'error';
}
