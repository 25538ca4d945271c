/**
 * Quotas (stage 4c of tools/call): the decision may name a limit bucket; the call is admitted only while every limit
 * of that bucket's partition has room, and its result size is counted once it is known. Every call's consumption
 * (calls, result bytes, estimated tokens, cost) is also added to the usage report served at GET /usage and to
 * metrics labelled by bucket (never by subject).
 */
import express, { type Request, type Response } from 'express';
import client from 'prom-client';
import type { CatalogEntry } from '../catalog/index.js';
import type { QuotasConfig } from '../config/index.js';
import type { Authenticate, Subject } from '../identity/index.js';
import type { Decision } from '../policy/index.js';
import type { Logger } from '../telemetry/logger.js';
import { QuotaExceededError, QuotaUnavailableError } from './errors.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import { dayOf, type Limits, type QuotaStore, type UsageKey, type UsageRow } from './types.js';

/** What the stage needs to know about the call (a narrow view of the pipeline's CallContext). */
export interface QuotaCall {
  readonly decisionId: string;
  readonly subject: Subject;
}

/** An admitted call: settle() counts its answer once it has been serialized for the client. */
export interface QuotaTicket {
  /** For the audit record: the bucket charged and the partition key policy gave, if any. */
  readonly audit: { bucket: string; key?: string } | undefined;
  settle(answer: string): void;
}

export type AdmitQuota = (call: QuotaCall, entry: CatalogEntry, decision: Decision) => Promise<QuotaTicket | undefined>;

export interface Quotas {
  admit: AdmitQuota;
  /** GET /usage; absent without a quotas: section. */
  router?: express.Router;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface QuotasOptions {
  config: QuotasConfig | undefined;
  authenticate: Authenticate;
  log: Logger;
  /** Where the quota metrics go (the gateway's metrics registry), when metrics are on. */
  registry?: client.Registry;
  env?: NodeJS.ProcessEnv;
}

interface Bucket {
  name: string;
  limits: Limits;
  per: ReadonlyArray<'subject' | 'server' | 'tool'>;
}

/** Estimated tokens of a result: bytes / 4, the usual rule of thumb for English text and JSON. */
export const BYTES_PER_TOKEN = 4;

export function createQuotas(opts: QuotasOptions): Quotas {
  const { config: cfg, log } = opts;
  if (!cfg) {
    return {
      // Without a quotas: section a decision naming a bucket cannot be honoured: fail closed rather than ignore it.
      admit: async (call, _entry, decision) => {
        if (decision.quota) throw new QuotaUnavailableError(decision.quota.bucket, 'no quotas are configured', call.decisionId);
        return undefined;
      },
      async start() {},
      async stop() {},
    };
  }

  const env = opts.env ?? process.env;
  const retentionDays = cfg.usageRetentionDays;
  let store: QuotaStore;
  if (cfg.store === 'redis') {
    if (!cfg.redis?.url && cfg.redis?.urlEnv && !env[cfg.redis.urlEnv]) throw new Error(`quotas.redis.urlEnv: environment variable ${cfg.redis.urlEnv} is not set`);
    const url = cfg.redis?.url ?? (cfg.redis?.urlEnv ? env[cfg.redis.urlEnv] : undefined);
    if (!url) throw new Error('quotas.redis: url, or urlEnv naming a set variable, is required when quotas.store is redis');
    store = createRedisStore({ url, keyPrefix: cfg.redis?.keyPrefix ?? 'portcullis:quota:', retentionDays, timeoutMs: cfg.timeoutMs, log });
  } else {
    store = createMemoryStore({ retentionDays });
  }

  const buckets = new Map<string, Bucket>();
  for (const [name, b] of Object.entries(cfg.buckets)) {
    buckets.set(name, {
      name,
      per: b.per,
      limits: {
        perMinute: b.perMinute,
        perDay: b.perDay,
        resultBytesPerDay: b.resultBytesPerDay,
        resultTokensPerDay: b.resultTokensPerDay,
        costPerDay: b.costPerDay,
        costPerCall: b.costPerCall,
      },
    });
  }

  const m = opts.registry ? quotaMetrics(opts.registry) : undefined;

  class Ticket implements QuotaTicket {
    constructor(
      readonly audit: QuotaTicket['audit'],
      private readonly partition: string | undefined,
      private readonly usageKey: UsageKey,
      private readonly bucket: string,
    ) {}

    settle(answer: string): void {
      const bytes = Buffer.byteLength(answer);
      const tokens = Math.ceil(bytes / BYTES_PER_TOKEN);
      const now = Date.now();
      if (this.partition !== undefined) store.settle(this.partition, bytes, tokens, now);
      store.addUsage(dayOf(now), this.usageKey, { resultBytes: bytes, resultTokens: tokens });
      m?.bytes.labels(this.bucket).inc(bytes);
      m?.tokens.labels(this.bucket).inc(tokens);
    }
  }

  async function admit(call: QuotaCall, entry: CatalogEntry, decision: Decision): Promise<QuotaTicket> {
    const now = Date.now();
    const s = call.subject;
    const usageKey: UsageKey = { issuer: s.iss ?? '', subject: s.sub, server: entry.server.id, tool: entry.tool.name };
    const q = decision.quota;
    if (!q) {
      store.addUsage(dayOf(now), usageKey, { calls: 1 });
      m?.calls.labels('').inc();
      return new Ticket(undefined, undefined, usageKey, '');
    }
    const b = buckets.get(q.bucket);
    if (!b) throw new QuotaUnavailableError(q.bucket, 'no such bucket in quotas.buckets', call.decisionId);
    const partition = partitionOf(b, s, entry, q.key);
    let verdict;
    try {
      verdict = await store.admit(partition, b.limits, now);
    } catch (err) {
      if (!cfg!.failOpen) throw new QuotaUnavailableError(q.bucket, 'the quota store did not answer', call.decisionId, err);
      log.warn('quota store did not answer; call admitted (quotas.failOpen)', { bucket: q.bucket, error: (err as Error).message });
      verdict = { ok: true as const };
    }
    if (!verdict.ok) {
      m?.refused.labels(b.name, verdict.limit).inc();
      throw new QuotaExceededError(b.name, verdict.limit, verdict.max, verdict.used, verdict.resetsAt, call.decisionId);
    }
    store.addUsage(dayOf(now), usageKey, { calls: 1, cost: b.limits.costPerCall });
    m?.calls.labels(b.name).inc();
    if (b.limits.costPerCall > 0) m?.cost.labels(b.name).inc(b.limits.costPerCall);
    return new Ticket(q.key === undefined ? { bucket: b.name } : { bucket: b.name, key: q.key }, partition, usageKey, b.name);
  }

  return {
    admit,
    router: usageRouter(store, opts.authenticate, cfg.usageRole, log),
    async start() {
      try {
        await store.ready();
        log.info('quotas ready', { store: store.kind, buckets: [...buckets.keys()] });
      } catch (err) {
        log.error(`quota store unavailable: calls with a quota bucket will ${cfg.failOpen ? 'pass unchecked' : 'be refused'} until it answers`, {
          store: store.kind,
          error: (err as Error).message,
        });
      }
    },
    stop: () => store.stop(),
  };
}

/** The counters a call is charged to: the bucket, split by what the bucket is `per`, and by the decision's key. */
function partitionOf(b: Bucket, s: Subject, entry: CatalogEntry, key: string | undefined): string {
  const parts = [b.name];
  for (const p of b.per) parts.push(p === 'subject' ? s.principal : p === 'server' ? entry.server.id : entry.key);
  if (key !== undefined) parts.push(key);
  return parts.join('\u001f');
}

function quotaMetrics(registry: client.Registry) {
  const prom = client;
  const registers = [registry];
  const bucket = ['bucket'] as const;
  return {
    calls: new prom.Counter({ name: 'portcullis_quota_calls_total', help: 'Admitted tools/call by quota bucket ("" for calls no bucket applies to).', labelNames: bucket, registers }),
    refused: new prom.Counter({ name: 'portcullis_quota_refused_total', help: 'Calls refused because a bucket limit was exhausted, by bucket and limit.', labelNames: ['bucket', 'limit'] as const, registers }),
    bytes: new prom.Counter({ name: 'portcullis_quota_result_bytes_total', help: 'Bytes of results sent to clients, by quota bucket.', labelNames: bucket, registers }),
    tokens: new prom.Counter({ name: 'portcullis_quota_result_tokens_total', help: 'Estimated result tokens (bytes / 4) sent to clients, by quota bucket.', labelNames: bucket, registers }),
    cost: new prom.Counter({ name: 'portcullis_quota_cost_total', help: 'Cost charged (quotas.buckets.<name>.costPerCall per admitted call), by quota bucket.', labelNames: bucket, registers }),
  };
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** GET /usage[?day=YYYY-MM-DD&subject=&server=&tool=]: consumption per subject, server and tool, for callers holding usageRole. */
function usageRouter(store: QuotaStore, authenticate: Authenticate, role: string, log: Logger): express.Router {
  const router = express.Router();
  router.get('/usage', (req: Request, res: Response) => {
    void (async () => {
      let who: Subject;
      try {
        who = await authenticate(req.headers.authorization, req.query.access_token !== undefined);
      } catch {
        res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
        return void res.status(401).json({ error: 'invalid_token', error_description: 'a valid bearer token is required' });
      }
      if (who.anonymous || !who.roles.includes(role)) {
        return void res.status(403).json({ error: 'forbidden', error_description: `the usage report needs the role ${role}` });
      }
      const day = typeof req.query.day === 'string' ? req.query.day : dayOf(Date.now());
      if (!DAY_RE.test(day)) return void res.status(400).json({ error: 'invalid_request', error_description: 'day must be YYYY-MM-DD (UTC)' });
      const only = (field: 'subject' | 'server' | 'tool') => (typeof req.query[field] === 'string' ? (req.query[field] as string) : undefined);
      const filter = { subject: only('subject'), server: only('server'), tool: only('tool') };
      let rows: UsageRow[];
      try {
        rows = await store.usage(day);
      } catch (err) {
        log.warn('usage report unavailable', { error: (err as Error).message });
        return void res.status(503).json({ error: 'unavailable', error_description: 'the quota store did not answer' });
      }
      rows = rows.filter((r) => (!filter.subject || r.subject === filter.subject) && (!filter.server || r.server === filter.server) && (!filter.tool || r.tool === filter.tool));
      rows.sort((a, b) => b.calls - a.calls || a.subject.localeCompare(b.subject) || a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool));
      res.setHeader('Cache-Control', 'no-store');
      res.json({
        day,
        store: store.kind,
        totals: sum(rows),
        bySubject: group(rows, (r) => [r.issuer, r.subject], (k) => ({ issuer: k[0], subject: k[1] })),
        byServer: group(rows, (r) => [r.server], (k) => ({ server: k[0] })),
        byTool: group(rows, (r) => [r.server, r.tool], (k) => ({ server: k[0], tool: k[1] })),
        rows,
      });
    })().catch((err: Error) => {
      log.error('usage report failed', { error: err.stack ?? String(err) });
      if (!res.headersSent) res.status(500).json({ error: 'internal_error' });
    });
  });
  return router;
}

type Totals = { calls: number; resultBytes: number; resultTokens: number; cost: number };

function sum(rows: UsageRow[]): Totals {
  const t: Totals = { calls: 0, resultBytes: 0, resultTokens: 0, cost: 0 };
  for (const r of rows) {
    t.calls += r.calls;
    t.resultBytes += r.resultBytes;
    t.resultTokens += r.resultTokens;
    t.cost += r.cost;
  }
  return t;
}

function group<T extends object>(rows: UsageRow[], keyOf: (r: UsageRow) => string[], label: (k: string[]) => T): Array<T & Totals> {
  const by = new Map<string, { k: string[]; rows: UsageRow[] }>();
  for (const r of rows) {
    const k = keyOf(r);
    const id = JSON.stringify(k);
    const g = by.get(id);
    if (g) g.rows.push(r);
    else by.set(id, { k, rows: [r] });
  }
  return [...by.values()].map((g) => ({ ...label(g.k), ...sum(g.rows) })).sort((a, b) => b.calls - a.calls);
}
