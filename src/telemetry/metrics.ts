/**
 * Prometheus metrics (prom-client, a registry of our own): request counters and latency histograms fed by the audit
 * records the pipeline writes anyway, and gauges read from their components only when Prometheus scrapes.
 * Label values are bounded: methods from a fixed list, servers from the config, tools from the catalog ("unknown"
 * otherwise), outcomes and stages from fixed lists. Never a subject, an argument or a client-chosen string.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { AuditRecord, AuditSink } from '../audit/index.js';
import { RELAYED_METHODS } from '../protocol/mcp.js';
import type { Logger } from './logger.js';

/** What the gauges read at scrape time. Each is optional: a component that is not configured reports nothing. */
export interface MetricsSources {
  sessions(): number;
  upstreams(): Iterable<{ id: string; kind: 'http' | 'stdio'; state: string; connections: number; restarts: number }>;
  bundle(): { revision: string; activatedAt: Date } | null;
  /** Whether a server is configured and a tool is in its catalog: only such names become label values. */
  knownServer(server: string): boolean;
  knownTool(server: string, tool: string): boolean;
  pendingApprovals?(): number;
  /** Policy bundles rejected since start (bad archive, bad signature, missing builtin, ...). */
  bundleRejections?(): number;
  /** Per upstream: tool lists rejected whole (over a bound), and single tools dropped as malformed. */
  toolListRejections?(): ReadonlyMap<string, number>;
  droppedTools?(): ReadonlyMap<string, number>;
  vaultLeases?(): number;
  /** What the audit sinks have not delivered yet (src/audit: memory queue plus disk spool). */
  auditBacklog?(): { records: number; bytes: number; sinks: Record<string, { state: string; full: boolean }> };
}

export interface MetricsOptions {
  path: string;
  defaultMetrics: boolean;
  listen?: { host: string; port: number };
  /** When set, a scrape must carry `Authorization: Bearer <this>`. */
  bearerToken?: string;
}

/** The wire outcome of a decided request; AuditOutcome renamed for dashboards. */
const OUTCOME: Record<AuditRecord['outcome'], string> = { allow: 'allowed', deny: 'denied', invalid: 'invalid', approval_required: 'approval', error: 'error' };

// Audited actions worth a label of their own; anything else is 'other' (bounded label values).
const METHODS = new Set(['tools/call', 'tools/list', ...RELAYED_METHODS, 'authenticate', 'approval/approve', 'approval/deny']);

const STAGES = new Set(['transport', 'identity', 'catalog', 'policy', 'quota', 'approval', 'credentials', 'validation', 'upstream', 'redaction', 'audit']);

// Policy evaluations are tens of microseconds; upstream and end-to-end latencies milliseconds to a minute.
const POLICY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new client.Registry();
  readonly contentType: string = this.registry.contentType;
  private readonly requests: client.Counter<'method' | 'server' | 'tool' | 'outcome'>;
  private readonly failures: client.Counter<'method' | 'server' | 'tool' | 'stage'>;
  private readonly policySeconds: client.Histogram<'method'>;
  private readonly upstreamSeconds: client.Histogram<'method' | 'server' | 'tool'>;
  private readonly requestSeconds: client.Histogram<'method' | 'server' | 'outcome'>;
  /** Bound label children by key: prom-client hashes a label object on every inc(); a Map lookup is cheaper. */
  private readonly children = new Map<string, { requests: { inc(): void }; total: { observe(v: number): void }; upstream?: { observe(v: number): void } }>();
  private listener: Server | undefined;

  constructor(
    private readonly sources: MetricsSources,
    private readonly opts: MetricsOptions,
  ) {
    const registers = [this.registry];
    // A gauge whose value is read from its source at scrape time.
    const gaugeOf = (name: string, help: string, read: () => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    if (opts.defaultMetrics) client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: 'portcullis_requests_total',
      help: 'Decided requests by method, server, tool and outcome (allowed, denied, invalid, approval, error): one per audit record.',
      labelNames: ['method', 'server', 'tool', 'outcome'],
      registers,
    });
    this.failures = new client.Counter({
      name: 'portcullis_request_failures_total',
      help: 'Requests answered with an error, by the pipeline stage where they stopped (identity, catalog, policy, quota, approval, credentials, validation, upstream, …).',
      labelNames: ['method', 'server', 'tool', 'stage'],
      registers,
    });
    this.policySeconds = new client.Histogram({
      name: 'portcullis_policy_evaluation_seconds',
      help: 'Time of one policy (WASM) evaluation; cached list decisions are not observed.',
      labelNames: ['method'],
      buckets: POLICY_BUCKETS,
      registers,
    });
    this.upstreamSeconds = new client.Histogram({
      name: 'portcullis_upstream_duration_seconds',
      help: 'Time from sending a request upstream to its answer, by server and tool.',
      labelNames: ['method', 'server', 'tool'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requestSeconds = new client.Histogram({
      name: 'portcullis_request_duration_seconds',
      help: 'End-to-end time of a decided request in the gateway, approval waits included.',
      labelNames: ['method', 'server', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });

    const s = sources;
    new client.Gauge({
      name: 'portcullis_client_sessions',
      help: 'Active client (MCP) sessions.',
      registers,
      collect() {
        this.set(s.sessions());
      },
    });
    new client.Gauge({
      name: 'portcullis_upstream_connections',
      help: 'Open MCP sessions with each upstream (HTTP: one per client session plus the catalog session; STDIO: the process).',
      labelNames: ['server', 'transport'],
      registers,
      collect() {
        for (const u of s.upstreams()) this.set({ server: u.id, transport: u.kind }, u.connections);
      },
    });
    new client.Gauge({
      name: 'portcullis_upstream_up',
      help: '1 when the upstream is connected and its tools are listed, else 0.',
      labelNames: ['server'],
      registers,
      collect() {
        for (const u of s.upstreams()) this.set({ server: u.id }, u.state === 'ok' ? 1 : 0);
      },
    });
    const restartsSeen = new Map<string, number>();
    new client.Counter({
      name: 'portcullis_upstream_restarts_total',
      help: 'Reconnections of an upstream after it failed; for STDIO, restarts of its process.',
      labelNames: ['server', 'transport'],
      registers,
      collect() {
        for (const u of s.upstreams()) {
          const delta = u.restarts - (restartsSeen.get(u.id) ?? 0);
          restartsSeen.set(u.id, u.restarts);
          this.inc({ server: u.id, transport: u.kind }, Math.max(0, delta));
        }
      },
    });
    new client.Gauge({
      name: 'portcullis_policy_bundle_info',
      help: 'The active policy bundle: always 1, its revision in the label.',
      labelNames: ['revision'],
      registers,
      collect() {
        // Reset first, so a replaced revision disappears instead of lingering at 1.
        this.reset();
        const b = s.bundle();
        if (b) this.set({ revision: b.revision }, 1);
      },
    });
    new client.Gauge({
      name: 'portcullis_policy_bundle_activated_timestamp_seconds',
      help: 'When the active policy bundle was activated (Unix time).',
      registers,
      collect() {
        const b = s.bundle();
        if (b) this.set(b.activatedAt.getTime() / 1000);
      },
    });
    // Counters kept by their components: read at scrape time, raised by what they grew since the last scrape.
    const countOf = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new client.Counter({
        name,
        help,
        registers,
        collect() {
          const now = read();
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    };
    const countPerServer = (name: string, help: string, read: () => ReadonlyMap<string, number>) => {
      const seen = new Map<string, number>();
      new client.Counter({
        name,
        help,
        labelNames: ['server'],
        registers,
        collect() {
          for (const [server, now] of read()) {
            if (!s.knownServer(server)) continue;
            const before = seen.get(server) ?? 0;
            if (now > before) this.inc({ server }, now - before);
            seen.set(server, now);
          }
        },
      });
    };
    if (s.bundleRejections) countOf('portcullis_policy_bundle_rejections_total', 'Policy bundles rejected (the last good one kept serving).', s.bundleRejections);
    if (s.toolListRejections) countPerServer('portcullis_tool_list_rejections_total', "Upstream tool lists rejected whole for exceeding servers[].toolList bounds (that upstream's last good list kept).", s.toolListRejections);
    if (s.droppedTools) countPerServer('portcullis_tools_dropped_total', 'Malformed tools dropped from upstream lists.', s.droppedTools);
    if (s.pendingApprovals) gaugeOf('portcullis_approvals_pending', 'Calls this replica holds while they wait for a reviewer.', s.pendingApprovals);
    if (s.vaultLeases) gaugeOf('portcullis_vault_leases', 'Vault leases (dynamic credentials) held right now, being retired included.', s.vaultLeases);
    if (s.auditBacklog) {
      const read = s.auditBacklog;
      gaugeOf('portcullis_audit_backlog_records', 'Audit records not yet delivered to every sink (queued in memory or spooled to disk).', () => read().records);
      gaugeOf('portcullis_audit_backlog_bytes', 'Bytes of audit records not yet delivered to every sink.', () => read().bytes);
      new client.Gauge({
        name: 'portcullis_audit_sink_up',
        help: '1 while an audit sink accepts writes, 0 while it is being retried.',
        labelNames: ['sink'],
        registers,
        collect() {
          for (const [sink, st] of Object.entries(read().sinks)) this.set({ sink }, st.state === 'ok' ? 1 : 0);
        },
      });
      new client.Gauge({
        name: 'portcullis_audit_spool_full',
        help: '1 when a sink is down and its spool is full (new calls are refused under audit.onFull: fail-closed).',
        labelNames: ['sink'],
        registers,
        collect() {
          for (const [sink, st] of Object.entries(read().sinks)) this.set({ sink }, st.full ? 1 : 0);
        },
      });
    }
  }

  /** Counts and times one audited request. Called for every audit record, so it stays a few map lookups. */
  observe(rec: AuditRecord): void {
    const method = METHODS.has(rec.action) ? rec.action : 'other';
    const server = rec.server !== undefined && this.sources.knownServer(rec.server) ? rec.server : '';
    const tool = method === 'tools/call' ? (server !== '' && rec.tool !== undefined && this.sources.knownTool(server, rec.tool) ? rec.tool : 'unknown') : '';
    const outcome = OUTCOME[rec.outcome] ?? 'error';
    const key = `${method}\u0000${server}\u0000${tool}\u0000${outcome}`;
    let c = this.children.get(key);
    if (!c) {
      // Bounded by servers × tools × outcomes; the catalog can only grow it by changing, so cap it as a backstop.
      if (this.children.size > 50_000) this.children.clear();
      c = {
        requests: this.requests.labels(method, server, tool, outcome),
        total: this.requestSeconds.labels(method, server, outcome),
        upstream: server !== '' ? this.upstreamSeconds.labels(method, server, tool) : undefined,
      };
      this.children.set(key, c);
    }
    c.requests.inc();
    const l = rec.latency_ms;
    c.total.observe(l.total / 1000);
    if (l.upstream !== undefined && c.upstream) c.upstream.observe(l.upstream / 1000);
    if (l.policy) this.policySeconds.labels(method).observe(l.policy / 1000);
    // Anything not answered with a result stopped somewhere: the stage says where (an upstream's own error: upstream).
    if (rec.outcome !== 'allow' || rec.upstream_error) {
      const stage = rec.upstream_error ? 'upstream' : rec.stage !== undefined && STAGES.has(rec.stage) ? rec.stage : 'other';
      this.failures.labels(method, server, tool, stage).inc();
    }
  }

  /**
   * Makes every record written to `audit` also counted here. Wraps the sink's own record() in place, so whatever
   * else the sink offers (and adds later) stays as it is.
   */
  instrument(audit: AuditSink): void {
    const write = audit.record.bind(audit);
    audit.record = (rec: AuditRecord) => {
      this.observe(rec);
      write(rec);
    };
  }

  /** The text exposition, for whichever listener serves it. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** Answers a scrape (on the gateway's listener, or on the metrics listener of its own). */
  handler(log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
    const expected = this.opts.bearerToken === undefined ? undefined : Buffer.from(`Bearer ${this.opts.bearerToken}`);
    return (req, res) => {
      if (expected && !sameBytes(req.headers.authorization, expected)) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' }).end('metrics need the scrape token\n');
        return;
      }
      this.scrape().then(
        (text) => res.writeHead(200, { 'content-type': this.contentType, 'cache-control': 'no-store' }).end(text),
        (err: Error) => {
          log.error('metrics collection failed', { error: err.message });
          res.writeHead(500).end();
        },
      );
    };
  }

  /** Starts the metrics listener of its own, when one is configured. Returns its URL (for logs and tests). */
  async start(log: Logger): Promise<string | undefined> {
    const l = this.opts.listen;
    if (!l) return undefined;
    const answer = this.handler(log);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' || path !== this.opts.path) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      answer(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => resolve());
    });
    this.listener = server;
    const port = (server.address() as AddressInfo).port;
    const host = l.host.includes(':') ? `[${l.host}]` : l.host;
    const url = `http://${host}:${port}${this.opts.path}`;
    log.info('metrics listening', { url });
    return url;
  }

  async stop(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    if (!l) return;
    l.closeAllConnections();
    await new Promise<void>((resolve) => l.close(() => resolve()));
  }
}

/** Constant-time comparison of a header with the expected value (no timing oracle on the scrape token). */
function sameBytes(header: string | undefined, expected: Buffer): boolean {
  if (header === undefined) return false;
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
