/** The embedded approval store: one process, records in a Map, changes announced synchronously. */
import type { ApprovalRecord, ApprovalStore, CloseOptions, FinalStatus, ListQuery, TransitionResult } from './types.js';

export interface MemoryStoreOptions {
  /** How long a closed record stays listable (recent decisions), in ms. */
  retainMs: number;
}

export function createMemoryStore(opts: MemoryStoreOptions): ApprovalStore {
  if (!(opts.retainMs >= 0)) throw new Error('memory store: retainMs must be >= 0');
  const records = new Map<string, ApprovalRecord>();
  const listeners = new Set<(id: string) => void>();

  // Copies in and out: callers never hold a reference into the store, just as with Redis.
  const copy = (r: ApprovalRecord): ApprovalRecord => structuredClone(r);
  const announce = (id: string) => {
    // Asynchronously, like a pub/sub message: a listener never runs inside the caller's transition.
    queueMicrotask(() => {
      for (const l of listeners) l(id);
    });
  };
  const sweep = (now: number) => {
    for (const [id, r] of records) {
      if (r.status !== 'pending' && (r.closedAt ?? 0) + opts.retainMs < now) records.delete(id);
    }
  };
  const timer = setInterval(() => sweep(Date.now()), 60_000);
  timer.unref();

  return {
    kind: 'memory',
    async ready() {},
    async create(rec) {
      if (records.has(rec.id)) throw new Error(`approval ${rec.id} exists`);
      records.set(rec.id, copy(rec));
      announce(rec.id);
    },
    async get(id) {
      const r = records.get(id);
      return r ? copy(r) : null;
    },
    async list(q: ListQuery) {
      const now = Date.now();
      sweep(now);
      const all = [...records.values()];
      const out =
        q.state === 'pending'
          ? all.filter((r) => r.status === 'pending').sort((a, b) => a.createdAt - b.createdAt)
          : all.filter((r) => r.status !== 'pending').sort((a, b) => (b.closedAt ?? 0) - (a.closedAt ?? 0));
      return out.slice(0, q.limit).map(copy);
    },
    async close(id: string, to: FinalStatus, o: CloseOptions): Promise<TransitionResult> {
      const r = records.get(id);
      if (!r) return { ok: false, reason: 'unknown', record: null };
      if (r.status !== 'pending') return { ok: false, reason: 'conflict', record: copy(r) };
      if (o.refuseIfLapsed && o.now >= r.expiresAt) return { ok: false, reason: 'expired', record: copy(r) };
      r.status = to;
      r.closedAt = o.now;
      if (o.decision) r.decision = structuredClone(o.decision);
      if (o.closedReason) r.closedReason = o.closedReason;
      announce(id);
      return { ok: true, record: copy(r) };
    },
    async consume(id, hash, now): Promise<TransitionResult> {
      const r = records.get(id);
      if (!r) return { ok: false, reason: 'unknown', record: null };
      if (r.status !== 'approved' || r.usedAt !== undefined) return { ok: false, reason: 'conflict', record: copy(r) };
      if (r.callHash !== hash) return { ok: false, reason: 'mismatch', record: copy(r) };
      r.usedAt = now;
      announce(id);
      return { ok: true, record: copy(r) };
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onResync() {
      // One process: nothing can be missed.
      return () => {};
    },
    async stop() {
      clearInterval(timer);
      listeners.clear();
    },
  };
}
