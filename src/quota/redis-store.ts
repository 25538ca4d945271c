/**
 * Quota counters shared by every replica (quotas.store: redis, ioredis): admission is one Lua script per call, so
 * replicas cannot together admit more than a limit; result bytes are added at once; usage rows are buffered for
 * a second and written in one pipeline, off the request path.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../telemetry/logger.js';
import { COST_EPSILON, DAY_MS, MINUTE_MS, type Admission, type LimitName, type Limits, type QuotaStore, type UsageDelta, type UsageKey, type UsageRow } from './types.js';

export interface RedisQuotaStoreOptions {
  url: string;
  keyPrefix: string;
  retentionDays: number;
  /** Time budget of one admission; past it the call fails with -32018 (or passes with quotas.failOpen). */
  timeoutMs: number;
  log: Logger;
}

// KEYS: minute counter, day hash. ARGV: perMinute, perDay, bytes, tokens, costPerDay (-1: no limit), costPerCall,
// minute ttl ms, day ttl ms, epsilon. Replies {0} when admitted, else {n, used} with n the index of the limit hit.
const ADMIT = `
local lim = {}
for i = 1, 6 do lim[i] = tonumber(ARGV[i]) end
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = redis.call('HMGET', KEYS[2], 'calls', 'bytes', 'tokens', 'cost')
local calls = tonumber(d[1] or '0')
local bytes = tonumber(d[2] or '0')
local tokens = tonumber(d[3] or '0')
local cost = tonumber(d[4] or '0')
if lim[1] >= 0 and m >= lim[1] then return {1, tostring(m)} end
if lim[2] >= 0 and calls >= lim[2] then return {2, tostring(calls)} end
if lim[3] >= 0 and bytes >= lim[3] then return {3, tostring(bytes)} end
if lim[4] >= 0 and tokens >= lim[4] then return {4, tostring(tokens)} end
if lim[5] >= 0 and cost + lim[6] > lim[5] + tonumber(ARGV[9]) then return {5, tostring(cost)} end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('HINCRBY', KEYS[2], 'calls', 1)
if lim[6] > 0 then redis.call('HINCRBYFLOAT', KEYS[2], 'cost', ARGV[6]) end
redis.call('PEXPIRE', KEYS[2], ARGV[8])
return {0}
`;

const LIMIT_AT: Array<LimitName | null> = [null, 'perMinute', 'perDay', 'resultBytesPerDay', 'resultTokensPerDay', 'costPerDay'];
const USAGE_FIELD: Record<keyof UsageDelta, string> = { calls: 'c', resultBytes: 'b', resultTokens: 't', cost: '$' };
const FLUSH_MS = 1000;

export function createRedisStore(opts: RedisQuotaStoreOptions): QuotaStore {
  const { log } = opts;
  // No offline queue: a call must not wait for a reconnect it cannot see the end of; it fails (closed) at once.
  // lazyConnect: creating the store connects nothing (the gateway's build step creates it); ready() connects.
  const redis = new Redis(opts.url, { maxRetriesPerRequest: 1, connectTimeout: 5000, enableOfflineQueue: false, commandTimeout: opts.timeoutMs, lazyConnect: true });
  redis.on('error', (err: Error) => log.debug('quota store connection error', { error: err.message }));
  redis.defineCommand('portcullisAdmit', { numberOfKeys: 2, lua: ADMIT });
  const admitScript = (redis as unknown as { portcullisAdmit(...args: string[]): Promise<Array<string | number>> }).portcullisAdmit.bind(redis);

  // Partition names can hold subject ids of any length; keys carry a digest of them instead.
  const digests = new Map<string, string>();
  function base(partition: string): string {
    let d = digests.get(partition);
    if (!d) {
      if (digests.size > 100_000) digests.clear();
      d = `${opts.keyPrefix}q:${createHash('sha256').update(partition).digest('base64url').slice(0, 24)}`;
      digests.set(partition, d);
    }
    return d;
  }
  const dayKey = (partition: string, day: number) => `${base(partition)}:d:${day}`;

  let pending = new Map<string, { day: string; field: string; by: number }>();
  async function flush(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const p = redis.pipeline();
    const keys = new Set<string>();
    for (const { day, field, by } of batch.values()) {
      const key = `${opts.keyPrefix}usage:${day}`;
      keys.add(key);
      if (Number.isInteger(by)) p.hincrby(key, field, by);
      else p.hincrbyfloat(key, field, by);
    }
    for (const k of keys) p.pexpire(k, opts.retentionDays * DAY_MS);
    try {
      await p.exec();
    } catch (err) {
      log.warn('quota usage could not be written; figures for the last second are lost', { error: (err as Error).message });
    }
  }
  let flusher: NodeJS.Timeout | undefined;

  return {
    kind: 'redis',
    async ready() {
      if (!flusher) {
        flusher = setInterval(() => void flush(), FLUSH_MS);
        flusher.unref();
      }
      // Without an offline queue nothing connects by itself: the first ready() opens the connection (ioredis then
      // reconnects on its own).
      if (redis.status === 'wait') redis.connect().catch(() => undefined);
      if (redis.status !== 'ready') {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no connection within 5 s')), 5000);
          t.unref();
          redis.once('ready', () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      await redis.ping();
    },
    async admit(partition: string, l: Limits, now: number): Promise<Admission> {
      const minute = Math.floor(now / MINUTE_MS);
      const day = Math.floor(now / DAY_MS);
      const n = (v: number | undefined) => (v === undefined ? '-1' : String(v));
      const r = await admitScript(
        `${base(partition)}:m:${minute}`,
        dayKey(partition, day),
        n(l.perMinute),
        n(l.perDay),
        n(l.resultBytesPerDay),
        n(l.resultTokensPerDay),
        n(l.costPerDay),
        String(l.costPerCall),
        String(2 * MINUTE_MS),
        String(DAY_MS + MINUTE_MS),
        String(COST_EPSILON),
      );
      const limit = LIMIT_AT[Number(r[0])];
      if (!limit) return { ok: true };
      const resetsAt = limit === 'perMinute' ? (minute + 1) * MINUTE_MS : (day + 1) * DAY_MS;
      return { ok: false, limit, max: l[limit]!, used: Number(r[1]), resetsAt };
    },
    settle(partition, bytes, tokens, now) {
      const key = dayKey(partition, Math.floor(now / DAY_MS));
      redis
        .multi()
        .hincrby(key, 'bytes', bytes)
        .hincrby(key, 'tokens', tokens)
        .pexpire(key, DAY_MS + MINUTE_MS)
        .exec()
        .catch((err: Error) => log.warn('quota result bytes could not be counted', { error: err.message }));
    },
    addUsage(day, k: UsageKey, d) {
      const row = JSON.stringify([k.issuer, k.subject, k.server, k.tool]);
      for (const k of Object.keys(USAGE_FIELD) as Array<keyof UsageDelta>) {
        const by = d[k];
        if (!by) continue;
        const field = `${USAGE_FIELD[k]}:${row}`;
        const id = `${day}\u0000${field}`;
        const e = pending.get(id);
        if (e) e.by += by;
        else pending.set(id, { day, field, by });
      }
    },
    async usage(day) {
      const h = await redis.hgetall(`${opts.keyPrefix}usage:${day}`);
      const rows = new Map<string, UsageRow>();
      const names = Object.fromEntries(Object.entries(USAGE_FIELD).map(([k, v]) => [v, k])) as Record<string, keyof UsageDelta>;
      for (const [field, value] of Object.entries(h)) {
        const i = field.indexOf(':');
        const metric = names[field.slice(0, i)];
        if (!metric) continue;
        const json = field.slice(i + 1);
        let r = rows.get(json);
        if (!r) {
          const [issuer, subject, server, tool] = JSON.parse(json) as [string, string, string, string];
          rows.set(json, (r = { issuer, subject, server, tool, calls: 0, resultBytes: 0, resultTokens: 0, cost: 0 }));
        }
        r[metric] = Number(value);
      }
      return [...rows.values()];
    },
    async stop() {
      clearInterval(flusher);
      await flush();
      redis.disconnect();
    },
  };
}
