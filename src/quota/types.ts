/** Quota buckets, their limits and the counters behind them, shared by the memory and Redis stores. */

export type LimitName = 'perMinute' | 'perDay' | 'resultBytesPerDay' | 'resultTokensPerDay' | 'costPerDay';

/** A bucket's limits; an absent limit is no limit. */
export interface Limits {
  perMinute?: number;
  perDay?: number;
  resultBytesPerDay?: number;
  resultTokensPerDay?: number;
  costPerDay?: number;
  /** Charged to the bucket (and to the caller's usage) on every admitted call. */
  costPerCall: number;
}

export type Admission =
  | { ok: true }
  | { ok: false; limit: LimitName; max: number; used: number; resetsAt: number };

/** One row of GET /usage: what a subject consumed through one tool on one UTC day. */
export interface UsageRow {
  /** The token's iss ('' for anonymous callers). */
  issuer: string;
  subject: string;
  server: string;
  tool: string;
  calls: number;
  resultBytes: number;
  resultTokens: number;
  cost: number;
}

export type UsageDelta = Omit<UsageRow, 'issuer' | 'subject' | 'server' | 'tool'>;

/** Who, through what: the row a usage delta adds to. */
export interface UsageKey {
  issuer: string;
  subject: string;
  server: string;
  tool: string;
}

/**
 * Where counters live. Calls per minute use fixed one-minute windows, everything else UTC days; a window's
 * counters expire with it. admit() checks and counts in one atomic step, so replicas sharing a store cannot
 * together let more calls through than the limit.
 */
export interface QuotaStore {
  readonly kind: 'memory' | 'redis';
  ready(): Promise<void>;
  /** Checks every limit of one bucket partition; when all have room, counts the call and its cost. */
  admit(partition: string, limits: Limits, now: number): Promise<Admission>;
  /** Adds an admitted call's result bytes and estimated tokens to its partition's day counters. */
  settle(partition: string, bytes: number, tokens: number, now: number): void;
  /** Adds to the usage report (per subject, server and tool, per day); may be buffered for a second. */
  addUsage(day: string, key: UsageKey, delta: Partial<UsageDelta>): void;
  usage(day: string): Promise<UsageRow[]>;
  stop(): Promise<void>;
}

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** YYYY-MM-DD of a UTC day. */
export function dayOf(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Floating costs add up with rounding error; 5 calls of 0.002 must fit a budget of 0.01. */
export const COST_EPSILON = 1e-9;
