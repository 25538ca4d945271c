/**
 * The shared approval store: records in Redis (ioredis), every transition one Lua script (atomic across replicas),
 * each change published so the replica holding the call is woken wherever the reviewer clicked.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../telemetry/logger.js';
import type {
  ApprovalRecord,
  ApprovalStatus,
  ApprovalStore,
  CloseOptions,
  FinalStatus,
  ListQuery,
  TransitionFailure,
  TransitionResult,
} from './types.js';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** How long a closed record stays listable (recent decisions), in ms. */
  retainMs: number;
  log: Logger;
}

// Fields that change after creation live in their own hash fields; everything else is one immutable JSON blob.
// Lua never decodes JSON (cjson turns [] into {}), it only compares and sets plain fields.
const REPLY = `local function reply(word)
  local t = redis.call('HGETALL', KEYS[1])
  table.insert(t, 1, word)
  return t
end
`;

// KEYS: record, pending zset, closed zset. ARGV: id, to, now, refuseIfLapsed, decision JSON, closedReason, retainMs, channel.
const CLOSE = `${REPLY}
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return reply('unknown') end
if st ~= 'pending' then return reply('conflict') end
if ARGV[4] == '1' and tonumber(ARGV[3]) >= tonumber(redis.call('HGET', KEYS[1], 'expiresAt')) then return reply('expired') end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'closedAt', ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'decision', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'closedReason', ARGV[6]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PUBLISH', ARGV[8], ARGV[1])
return reply('ok')
`;

// KEYS: record. ARGV: id, callHash, now, channel.
const CONSUME = `${REPLY}
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return reply('unknown') end
if st ~= 'approved' or redis.call('HEXISTS', KEYS[1], 'usedAt') == 1 then return reply('conflict') end
if redis.call('HGET', KEYS[1], 'callHash') ~= ARGV[2] then return reply('mismatch') end
redis.call('HSET', KEYS[1], 'usedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return reply('ok')
`;

const MUTABLE = new Set(['status', 'expiresAt', 'callHash', 'decision', 'closedReason', 'closedAt', 'usedAt']);
// A record whose holder vanished (crash) is closed by whoever lists it, this long after it lapsed.
const ORPHAN_GRACE_MS = 10_000;

function toHash(rec: ApprovalRecord): Record<string, string> {
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) if (!MUTABLE.has(k)) data[k] = v;
  const h: Record<string, string> = {
    data: JSON.stringify(data),
    status: rec.status,
    expiresAt: String(rec.expiresAt),
    callHash: rec.callHash,
  };
  if (rec.decision) h.decision = JSON.stringify(rec.decision);
  if (rec.closedReason) h.closedReason = rec.closedReason;
  if (rec.closedAt !== undefined) h.closedAt = String(rec.closedAt);
  if (rec.usedAt !== undefined) h.usedAt = String(rec.usedAt);
  return h;
}

function fromHash(h: Record<string, string>): ApprovalRecord | null {
  if (!h.data || !h.status) return null;
  const rec = JSON.parse(h.data) as ApprovalRecord;
  rec.status = h.status as ApprovalStatus;
  rec.expiresAt = Number(h.expiresAt);
  rec.callHash = h.callHash ?? '';
  if (h.decision) rec.decision = JSON.parse(h.decision) as ApprovalRecord['decision'];
  if (h.closedReason) rec.closedReason = h.closedReason;
  if (h.closedAt) rec.closedAt = Number(h.closedAt);
  if (h.usedAt) rec.usedAt = Number(h.usedAt);
  return rec;
}

function fromFlat(flat: string[]): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
}

function transition(reply: unknown): TransitionResult {
  const [word, ...flat] = reply as string[];
  const record = fromHash(fromFlat(flat));
  if (word === 'ok' && record) return { ok: true, record };
  return { ok: false, reason: (word === 'ok' ? 'unknown' : word) as TransitionFailure, record };
}

export function createRedisStore(opts: RedisStoreOptions): ApprovalStore {
  if (!/^rediss?:\/\//.test(opts.url)) throw new Error('redis store: url must start with redis:// or rediss://');
  if (!(opts.retainMs >= 0)) throw new Error('redis store: retainMs must be >= 0');
  const { log } = opts;
  const p = opts.keyPrefix;
  const recKey = (id: string) => `${p}rec:${id}`;
  const pendingKey = `${p}pending`;
  const closedKey = `${p}closed`;
  const channel = `${p}events`;

  // Fail fast instead of queueing for ever: a call that cannot record its approval is refused (fail closed).
  // lazyConnect: creating the store connects nothing (the gateway's build step creates it); ready() connects.
  const redis = new Redis(opts.url, { maxRetriesPerRequest: 2, connectTimeout: 5000, lazyConnect: true });
  const sub = redis.duplicate();
  const listeners = new Set<(id: string) => void>();
  const resyncs = new Set<() => void>();
  let errorLogged = false;
  for (const [name, conn] of [['commands', redis], ['subscriber', sub]] as const) {
    conn.on('error', (err: Error) => {
      // ioredis reconnects by itself and reports every attempt; one line per outage is enough.
      if (!errorLogged) log.error('approval store (redis) connection error', { connection: name, error: err.message });
      errorLogged = true;
    });
    conn.on('ready', () => {
      if (errorLogged) log.info('approval store (redis) connection back', { connection: name });
      errorLogged = false;
    });
  }
  let subscribedOnce = false;
  sub.on('ready', () => {
    // ioredis re-subscribes after a reconnect; messages published in between are lost, so waiters re-read.
    if (subscribedOnce) for (const r of resyncs) r();
    subscribedOnce = true;
  });
  sub.on('message', (ch: string, id: string) => {
    if (ch !== channel) return;
    for (const l of listeners) l(id);
  });
  let subscribed: Promise<unknown> | undefined;

  async function get(id: string): Promise<ApprovalRecord | null> {
    return fromHash(await redis.hgetall(recKey(id)));
  }

  async function close(id: string, to: FinalStatus, o: CloseOptions): Promise<TransitionResult> {
    const r = await redis.eval(
      CLOSE,
      3,
      recKey(id),
      pendingKey,
      closedKey,
      id,
      to,
      String(o.now),
      o.refuseIfLapsed ? '1' : '0',
      o.decision ? JSON.stringify(o.decision) : '',
      o.closedReason ?? '',
      String(Math.max(1, opts.retainMs)),
      channel,
    );
    return transition(r);
  }

  async function fetchMany(ids: string[]): Promise<Array<ApprovalRecord | null>> {
    if (ids.length === 0) return [];
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hgetall(recKey(id));
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, h]) => (err ? null : fromHash(h as Record<string, string>)));
  }

  return {
    kind: 'redis',
    async ready() {
      subscribed ??= sub.subscribe(channel);
      await subscribed;
      await redis.ping();
    },
    async create(rec) {
      const ttl = Math.max(1, rec.expiresAt - Date.now()) + opts.retainMs + ORPHAN_GRACE_MS;
      const res = await redis
        .multi()
        .hset(recKey(rec.id), toHash(rec))
        .pexpire(recKey(rec.id), ttl)
        .zadd(pendingKey, rec.expiresAt, rec.id)
        .publish(channel, rec.id)
        .exec();
      const failed = res?.find(([err]) => err);
      if (!res || failed) throw failed?.[0] ?? new Error('redis transaction aborted');
    },
    get,
    async list(q: ListQuery) {
      const now = Date.now();
      if (q.state === 'closed') {
        await redis.zremrangebyscore(closedKey, '-inf', now - opts.retainMs);
        const ids = await redis.zrevrange(closedKey, 0, q.limit - 1);
        return (await fetchMany(ids)).filter((r): r is ApprovalRecord => r !== null);
      }
      const ids = await redis.zrange(pendingKey, '0', '-1');
      const recs = await fetchMany(ids);
      const out: ApprovalRecord[] = [];
      for (let i = 0; i < ids.length; i++) {
        const r = recs[i];
        if (!r) {
          await redis.zrem(pendingKey, ids[i]!); // the record's key expired: drop the dangling index entry
          continue;
        }
        if (r.status !== 'pending') continue;
        if (now > r.expiresAt + ORPHAN_GRACE_MS) {
          // Its holder should have expired it; that replica is gone, and so is the client that waited.
          await close(r.id, 'expired', { now, refuseIfLapsed: false, closedReason: 'lapsed; the replica holding the call did not close it' });
          continue;
        }
        out.push(r);
      }
      return out.sort((a, b) => a.createdAt - b.createdAt).slice(0, q.limit);
    },
    close,
    async consume(id, hash, now) {
      return transition(await redis.eval(CONSUME, 1, recKey(id), id, hash, String(now), channel));
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onResync(listener) {
      resyncs.add(listener);
      return () => resyncs.delete(listener);
    },
    async stop() {
      listeners.clear();
      resyncs.clear();
      // QUIT waits for the server; with the connection down it would wait for a reconnect that may never come.
      await Promise.allSettled([sub, redis].map((c) => (c.status === 'ready' ? c.quit() : Promise.resolve(c.disconnect()))));
    },
  };
}
