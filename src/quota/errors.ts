/** What a call refused by a quota ends with: -32017 with when the bucket resets, or -32018 when it cannot be checked. */
import { QUOTA_EXHAUSTED, QUOTA_UNAVAILABLE } from '../errors/codes.js';
import { GatewayError } from '../errors/index.js';
import type { LimitName } from './types.js';

const DESCRIBE: Record<LimitName, (max: number) => string> = {
  perMinute: (n) => `${n} calls per minute`,
  perDay: (n) => `${n} calls per day`,
  resultBytesPerDay: (n) => `${n} result bytes per day`,
  resultTokensPerDay: (n) => `${n} estimated result tokens per day`,
  costPerDay: (n) => `a cost of ${n} per day`,
};

export class QuotaExceededError extends GatewayError {
  constructor(bucket: string, limit: LimitName, max: number, used: number, resetsAt: number, decisionId: string) {
    const at = new Date(resetsAt).toISOString();
    super(QUOTA_EXHAUSTED, 'quota', `Quota exhausted: bucket '${bucket}' allows ${DESCRIBE[limit](max)}; it resets at ${at}`, {
      data: { bucket, limit, max, used, resetsAt: at, retryAfterSeconds: Math.max(1, Math.ceil((resetsAt - Date.now()) / 1000)), decisionId },
    });
  }
}

/** The bucket is not configured, or the store does not answer: fail closed (quotas.failOpen turns the latter off). */
export class QuotaUnavailableError extends GatewayError {
  constructor(bucket: string, reason: string, decisionId: string, cause?: unknown) {
    super(QUOTA_UNAVAILABLE, 'quota', `Quota for bucket '${bucket}' cannot be checked: ${reason}`, { data: { bucket, decisionId }, cause });
  }
}
