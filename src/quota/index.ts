/** Quotas (stage 4c): limit buckets named by policy, counted in memory or Redis; the usage report at GET /usage. */
export { createQuotas, BYTES_PER_TOKEN, type Quotas, type QuotasOptions, type AdmitQuota, type QuotaTicket, type QuotaCall } from './quota.js';
export { QuotaExceededError, QuotaUnavailableError } from './errors.js';
export type { LimitName, Limits, UsageRow } from './types.js';
