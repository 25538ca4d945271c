import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDecision, DecisionShapeError } from '../policy/index.js';
import { createMemoryStore } from './memory-store.js';
import type { Limits } from './types.js';

const T0 = Date.UTC(2026, 0, 15, 10, 30, 5); // 10:30:05 UTC
const limits = (l: Partial<Limits>): Limits => ({ costPerCall: 0, ...l });

describe('memory quota store', () => {
  const rows: Array<{ note: string; limits: Limits; calls: number; settle?: number; want: { admitted: number; limit?: string; resetsAt?: number } }> = [
    { note: 'per minute: the window end', limits: limits({ perMinute: 2 }), calls: 3, want: { admitted: 2, limit: 'perMinute', resetsAt: Date.UTC(2026, 0, 15, 10, 31) } },
    { note: 'per day: next UTC midnight', limits: limits({ perDay: 1 }), calls: 2, want: { admitted: 1, limit: 'perDay', resetsAt: Date.UTC(2026, 0, 16) } },
    { note: 'result bytes: counted after the call', limits: limits({ resultBytesPerDay: 10 }), calls: 3, settle: 6, want: { admitted: 2, limit: 'resultBytesPerDay' } },
    { note: 'tokens: bytes / 4', limits: limits({ resultTokensPerDay: 2 }), calls: 3, settle: 1, want: { admitted: 2, limit: 'resultTokensPerDay' } },
    { note: 'cost: 5 × 0.002 fits 0.01 despite rounding', limits: limits({ costPerCall: 0.002, costPerDay: 0.01 }), calls: 6, want: { admitted: 5, limit: 'costPerDay' } },
    { note: 'no limits: everything passes', limits: limits({}), calls: 50, want: { admitted: 50 } },
  ];
  for (const r of rows) {
    it(r.note, async () => {
      const store = createMemoryStore({ retentionDays: 1 });
      let admitted = 0;
      let last;
      for (let i = 0; i < r.calls; i++) {
        last = await store.admit('p', r.limits, T0);
        if (!last.ok) break;
        admitted++;
        if (r.settle !== undefined) store.settle('p', r.settle, r.settle, T0);
      }
      assert.equal(admitted, r.want.admitted);
      if (r.want.limit) {
        assert.equal(last!.ok, false);
        if (!last!.ok) {
          assert.equal(last!.limit, r.want.limit);
          if (r.want.resetsAt) assert.equal(last!.resetsAt, r.want.resetsAt);
        }
      }
      await store.stop();
    });
  }

  it('a new minute and a new day start from zero; partitions are separate', async () => {
    const store = createMemoryStore({ retentionDays: 1 });
    const l = limits({ perMinute: 1, perDay: 2 });
    assert.equal((await store.admit('p', l, T0)).ok, true);
    assert.equal((await store.admit('p', l, T0)).ok, false);
    assert.equal((await store.admit('q', l, T0)).ok, true);
    assert.equal((await store.admit('p', l, T0 + 60_000)).ok, true);
    const day = await store.admit('p', l, T0 + 120_000);
    assert.equal(day.ok === false && day.limit, 'perDay');
    assert.equal((await store.admit('p', l, T0 + 86_400_000)).ok, true);
    await store.stop();
  });

  it('usage rows add up per subject, server and tool and per day', async () => {
    const store = createMemoryStore({ retentionDays: 1 });
    const k = { issuer: 'i', subject: 's', server: 'web', tool: 'echo' };
    store.addUsage('2026-01-15', k, { calls: 1, cost: 0.5 });
    store.addUsage('2026-01-15', k, { resultBytes: 10, resultTokens: 3 });
    store.addUsage('2026-01-15', { ...k, tool: 'add' }, { calls: 1 });
    const rows = await store.usage('2026-01-15');
    assert.deepEqual(rows.find((r) => r.tool === 'echo'), { ...k, calls: 1, resultBytes: 10, resultTokens: 3, cost: 0.5 });
    assert.equal(rows.length, 2);
    assert.deepEqual(await store.usage('2026-01-16'), []);
    await store.stop();
  });
});

describe('decision.quota', () => {
  const base = { outcome: 'allow', reasons: [] };
  it('is parsed with an optional key', () => {
    assert.deepEqual(parseDecision({ ...base, quota: { bucket: 'b' } }).quota, { bucket: 'b' });
    assert.deepEqual(parseDecision({ ...base, quota: { bucket: 'b', key: 'team-a' } }).quota, { bucket: 'b', key: 'team-a' });
    assert.equal(parseDecision(base).quota, undefined);
  });
  for (const bad of [{ bucket: '' }, { bucket: 3 }, { key: 'k' }, 'b', null, { bucket: 'b', key: 1 }]) {
    it(`a malformed quota fails closed: ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseDecision({ ...base, quota: bad }), DecisionShapeError);
    });
  }
});
