/** Quota counters in this process only (quotas.store: memory): for a single replica. */
import { COST_EPSILON, DAY_MS, MINUTE_MS, type Admission, type Limits, type QuotaStore, type UsageDelta, type UsageKey, type UsageRow } from './types.js';

interface Counters {
  minute: number;
  minuteCalls: number;
  day: number;
  calls: number;
  bytes: number;
  tokens: number;
  cost: number;
}

export function createMemoryStore(opts: { retentionDays: number }): QuotaStore {
  const partitions = new Map<string, Counters>();
  const usage = new Map<string, Map<string, UsageRow>>();

  const sweeper = setInterval(() => {
    const today = Math.floor(Date.now() / DAY_MS);
    for (const [k, c] of partitions) if (c.day < today) partitions.delete(k);
    const oldest = new Date((today - opts.retentionDays + 1) * DAY_MS).toISOString().slice(0, 10);
    for (const day of usage.keys()) if (day < oldest) usage.delete(day);
  }, MINUTE_MS);
  sweeper.unref();

  function counters(partition: string, now: number): Counters {
    const minute = Math.floor(now / MINUTE_MS);
    const day = Math.floor(now / DAY_MS);
    let c = partitions.get(partition);
    if (!c) {
      c = { minute, minuteCalls: 0, day, calls: 0, bytes: 0, tokens: 0, cost: 0 };
      partitions.set(partition, c);
    }
    if (c.minute !== minute) {
      c.minute = minute;
      c.minuteCalls = 0;
    }
    if (c.day !== day) Object.assign(c, { day, calls: 0, bytes: 0, tokens: 0, cost: 0 });
    return c;
  }

  return {
    kind: 'memory',
    async ready() {},
    async admit(partition: string, l: Limits, now: number): Promise<Admission> {
      const c = counters(partition, now);
      const minuteEnd = (c.minute + 1) * MINUTE_MS;
      const dayEnd = (c.day + 1) * DAY_MS;
      if (l.perMinute !== undefined && c.minuteCalls >= l.perMinute) return { ok: false, limit: 'perMinute', max: l.perMinute, used: c.minuteCalls, resetsAt: minuteEnd };
      if (l.perDay !== undefined && c.calls >= l.perDay) return { ok: false, limit: 'perDay', max: l.perDay, used: c.calls, resetsAt: dayEnd };
      if (l.resultBytesPerDay !== undefined && c.bytes >= l.resultBytesPerDay) return { ok: false, limit: 'resultBytesPerDay', max: l.resultBytesPerDay, used: c.bytes, resetsAt: dayEnd };
      if (l.resultTokensPerDay !== undefined && c.tokens >= l.resultTokensPerDay) return { ok: false, limit: 'resultTokensPerDay', max: l.resultTokensPerDay, used: c.tokens, resetsAt: dayEnd };
      if (l.costPerDay !== undefined && c.cost + l.costPerCall > l.costPerDay + COST_EPSILON) return { ok: false, limit: 'costPerDay', max: l.costPerDay, used: c.cost, resetsAt: dayEnd };
      c.minuteCalls++;
      c.calls++;
      c.cost += l.costPerCall;
      return { ok: true };
    },
    settle(partition, bytes, tokens, now) {
      const c = counters(partition, now);
      c.bytes += bytes;
      c.tokens += tokens;
    },
    addUsage(day, k: UsageKey, d: Partial<UsageDelta>) {
      let rows = usage.get(day);
      if (!rows) usage.set(day, (rows = new Map()));
      const key = `${k.issuer}\u0000${k.subject}\u0000${k.server}\u0000${k.tool}`;
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { ...k, calls: 0, resultBytes: 0, resultTokens: 0, cost: 0 }));
      r.calls += d.calls ?? 0;
      r.resultBytes += d.resultBytes ?? 0;
      r.resultTokens += d.resultTokens ?? 0;
      r.cost += d.cost ?? 0;
    },
    async usage(day) {
      return [...(usage.get(day)?.values() ?? [])].map((r) => ({ ...r }));
    },
    async stop() {
      clearInterval(sweeper);
    },
  };
}
