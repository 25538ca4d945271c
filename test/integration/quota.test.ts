// Quotas: policy names a bucket, config gives its limits; an exhausted bucket is refused with -32017 and the time
// it resets. Memory store on one gateway (calls per minute per subject, result bytes, cost), then a bucket shared by
// two replicas through a real redis-server. GET /usage and the metrics report the same consumption.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { auditLines, parseAuditLine } from '../helpers/audit.js';
import { buildBundle, regoPolicy, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { rawCall, rawSession } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

// The gateways inherit this environment: metrics outside dev mode need a scrape token.
const SCRAPE_TOKEN = 'scrape-token-for-tests';
process.env.PORTCULLIS_TEST_SCRAPE_TOKEN = SCRAPE_TOKEN;

// echo → a bucket per subject per minute; get_contact → result bytes per day; add → a cost budget; whoami → a bucket
// the config does not have; slow_echo → one bucket shared by everyone (the replicas test). Anything else: no bucket.
const QUOTA_POLICY = regoPolicy(`
buckets := {"echo": "per-minute", "get_contact": "bytes", "add": "paid", "whoami": "nope", "slow_echo": "shared"}

decision := {"outcome": "allow", "reasons": ["allowed with a quota"], "quota": {"bucket": buckets[input.tool.name]}} if {
	buckets[input.tool.name]
}

decision := {"outcome": "allow", "reasons": ["allowed"]} if {
	not buckets[input.tool.name]
}
`);

function quotaBundle(dir: string): string {
  return buildBundle(writePolicyDir(join(dir, 'quota-policy'), { 'quota.rego': QUOTA_POLICY }), join(dir, 'quota.tar.gz'), 'quota-rev');
}

/** Fixed one-minute windows: start a per-minute sequence early in a minute, so it cannot straddle two windows. */
async function earlyInAMinute(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 45_000) await delay(60_000 - into + 50);
}

const errorOf = (r: { json: any; text: string }) => {
  assert.ok(r.json?.error, `expected an error, got ${r.text}`);
  return r.json.error as { code: number; message: string; data: Record<string, any> };
};

describe('quotas (memory store)', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let issuer: TokenIssuer;
  let auditFile: string;
  const tok: Record<string, string> = {};

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-quota-');
    scope.defer(null, cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    issuer = await createIssuer(dir);
    auditFile = join(dir, 'audit.jsonl');
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: quotaBundle(dir) },
        servers: [httpServer('web', up.url)],
        audit: { file: auditFile },
        metrics: { defaultMetrics: false, bearerTokenEnv: 'PORTCULLIS_TEST_SCRAPE_TOKEN' },
        quotas: {
          store: 'memory',
          usageRole: 'usage-reader',
          buckets: {
            'per-minute': { perMinute: 3 },
            bytes: { resultBytesPerDay: 100 },
            paid: { costPerCall: 0.25, costPerDay: 0.5, per: [] },
          },
        },
      }),
      (g) => g.stop(),
    );
    tok.alice = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    tok.bob = await issuer.mint({ sub: 'bob', roles: ['engineer'] });
    tok.auditor = await issuer.mint({ sub: 'auditor', roles: ['usage-reader'] });
  });
  after(() => scope.close());

  let contactBytes = 0;

  it('calls per minute per subject: the 4th call is refused with -32017 and the time the window resets; another subject is unaffected', async () => {
    await earlyInAMinute();
    const sid = await rawSession(gw.url, tok.alice!);
    for (let i = 0; i < 3; i++) assert.ok((await rawCall(gw.url, tok.alice!, sid, 'web__echo', { text: `q${i}` })).json.result);
    const t0 = Date.now();
    const e = errorOf(await rawCall(gw.url, tok.alice!, sid, 'web__echo', { text: 'one too many' }));
    assert.equal(e.code, -32017);
    assert.equal(e.data.bucket, 'per-minute');
    assert.equal(e.data.limit, 'perMinute');
    assert.equal(e.data.max, 3);
    assert.equal(e.data.used, 3);
    const resets = Date.parse(e.data.resetsAt);
    assert.equal(resets % 60_000, 0, 'the end of the one-minute window');
    assert.ok(resets > t0 && resets <= t0 + 60_000, e.data.resetsAt);
    assert.ok(e.data.retryAfterSeconds >= 1 && e.data.retryAfterSeconds <= 60);
    assert.match(e.message, /bucket 'per-minute' allows 3 calls per minute; it resets at \d{4}-\d\d-\d\dT/);
    assert.ok(e.data.decisionId);

    const bobSid = await rawSession(gw.url, tok.bob!);
    assert.ok((await rawCall(gw.url, tok.bob!, bobSid, 'web__echo', { text: 'bob has his own counter' })).json.result);

    const refused = await waitFor(() => auditLines(auditFile).map(parseAuditLine).find((l) => l.decision_id === e.data.decisionId), 'audit record of the refusal');
    assert.equal(refused.outcome, 'deny');
    assert.equal(refused.stage, 'quota');
    assert.equal(refused.error_code, -32017);
    assert.deepEqual(refused.quota ?? null, null, 'not charged');
    const charged = auditLines(auditFile).map(parseAuditLine).find((l) => l.action === 'tools/call' && l.outcome === 'allow' && (l.quota as any)?.bucket === 'per-minute');
    assert.ok(charged, 'admitted calls record their bucket');
  });

  it('result bytes per day are counted after the call: the call that crosses the limit completes, the next is refused', async () => {
    const sid = await rawSession(gw.url, tok.alice!);
    const first = await rawCall(gw.url, tok.alice!, sid, 'web__get_contact', { name: 'ann' });
    assert.ok(first.json.result, first.text);
    // What is counted is the result the client receives (its JSON), not the JSON-RPC envelope around it.
    contactBytes = Buffer.byteLength(JSON.stringify(first.json.result));
    assert.ok(contactBytes > 100);
    const e = errorOf(await rawCall(gw.url, tok.alice!, sid, 'web__get_contact', { name: 'ben' }));
    assert.equal(e.code, -32017);
    assert.equal(e.data.limit, 'resultBytesPerDay');
    assert.equal(e.data.used, contactBytes);
    assert.equal(Date.parse(e.data.resetsAt) % 86_400_000, 0, 'next UTC midnight');
  });

  it('a cost per call against a daily budget (a bucket shared by every subject)', async () => {
    const a = await rawSession(gw.url, tok.alice!);
    const b = await rawSession(gw.url, tok.bob!);
    assert.ok((await rawCall(gw.url, tok.alice!, a, 'web__add', { a: 1, b: 2 })).json.result);
    assert.ok((await rawCall(gw.url, tok.bob!, b, 'web__add', { a: 3, b: 4 })).json.result);
    const e = errorOf(await rawCall(gw.url, tok.alice!, a, 'web__add', { a: 5, b: 6 }));
    assert.equal(e.code, -32017);
    assert.equal(e.data.limit, 'costPerDay');
    assert.equal(e.data.used, 0.5);
  });

  it('a bucket the policy names but the config lacks fails closed with -32018', async () => {
    const sid = await rawSession(gw.url, tok.alice!);
    const e = errorOf(await rawCall(gw.url, tok.alice!, sid, 'web__whoami', {}));
    assert.equal(e.code, -32018);
    assert.equal(e.data.bucket, 'nope');
  });

  it('GET /usage reports consumption per subject, server and tool, to holders of the usage role only', async () => {
    assert.equal((await fetch(`${gw.base}/usage`)).status, 401);
    assert.equal((await fetch(`${gw.base}/usage`, { headers: { authorization: `Bearer ${tok.alice}` } })).status, 403);
    const res = await fetch(`${gw.base}/usage`, { headers: { authorization: `Bearer ${tok.auditor}` } });
    assert.equal(res.status, 200);
    const u = (await res.json()) as any;
    assert.equal(u.store, 'memory');
    assert.equal(u.day, new Date().toISOString().slice(0, 10));
    const row = (sub: string, tool: string) => u.rows.find((r: any) => r.subject === sub && r.server === 'web' && r.tool === tool);
    assert.equal(row('alice', 'echo').calls, 3, 'admitted calls only');
    assert.equal(row('alice', 'echo').issuer, issuer.issuer);
    assert.equal(row('bob', 'echo').calls, 1);
    assert.equal(row('alice', 'get_contact').calls, 1);
    assert.equal(row('alice', 'get_contact').resultBytes, contactBytes);
    assert.equal(row('alice', 'get_contact').resultTokens, Math.ceil(contactBytes / 4));
    assert.equal(row('alice', 'add').cost, 0.25);
    assert.equal(row('bob', 'add').cost, 0.25);
    assert.equal(u.byServer.find((s: any) => s.server === 'web').cost, 0.5);
    assert.equal(u.bySubject.find((s: any) => s.subject === 'bob').calls, 2);
    assert.equal(u.byTool.find((t: any) => t.tool === 'echo').calls, 4);
    assert.equal(u.totals.calls, u.rows.reduce((s: number, r: any) => s + r.calls, 0));

    const bob = (await (await fetch(`${gw.base}/usage?subject=bob`, { headers: { authorization: `Bearer ${tok.auditor}` } })).json()) as any;
    assert.ok(bob.rows.length === 2 && bob.rows.every((r: any) => r.subject === 'bob'));
    assert.equal((await fetch(`${gw.base}/usage?day=yesterday`, { headers: { authorization: `Bearer ${tok.auditor}` } })).status, 400);
  });

  it('the same figures are in metrics, by bucket and never by subject', async () => {
    const text = await (await fetch(`${gw.base}/metrics`, { headers: { Authorization: `Bearer ${SCRAPE_TOKEN}` } })).text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    assert.equal(value('portcullis_quota_refused_total{bucket="per-minute",limit="perMinute"}'), 1);
    assert.equal(value('portcullis_quota_refused_total{bucket="bytes",limit="resultBytesPerDay"}'), 1);
    assert.equal(value('portcullis_quota_calls_total{bucket="per-minute"}'), 4);
    assert.equal(value('portcullis_quota_calls_total{bucket="paid"}'), 2);
    assert.equal(value('portcullis_quota_cost_total{bucket="paid"}'), 0.5);
    assert.equal(value('portcullis_quota_result_bytes_total{bucket="bytes"}'), contactBytes);
    assert.equal(value('portcullis_quota_result_tokens_total{bucket="bytes"}'), Math.ceil(contactBytes / 4));
    assert.equal(value('portcullis_request_failures_total{method="tools/call",server="web",tool="echo",stage="quota"}'), 1);
    assert.ok(!/alice|bob/.test(text), 'no subject in any label');
  });
});

describe('quotas shared by two replicas through Redis', () => {
  const scope = new Scope();
  let a: RunningGateway;
  let b: RunningGateway;
  let redis: TestRedis;
  const tok: Record<string, string> = {};

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-quota-redis-');
    scope.defer(null, cleanup);
    redis = scope.defer(await startRedis(dir), (r) => r.stop());
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    const cfg = {
      auth: issuer.authConfig(),
      policy: { bundle: quotaBundle(dir) },
      servers: [httpServer('web', up.url)],
      quotas: { store: 'redis', redis: { url: redis.url, keyPrefix: 'it:quota:' }, timeoutMs: 500, buckets: { shared: { perMinute: 6, per: [] } } },
    };
    [a, b] = await Promise.all([startGateway(dir, cfg, 'replica-a.yaml'), startGateway(dir, cfg, 'replica-b.yaml')]);
    scope.defer(a, (g) => g.stop());
    scope.defer(b, (g) => g.stop());
    tok.alice = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    tok.bob = await issuer.mint({ sub: 'bob', roles: ['engineer'] });
    tok.auditor = await issuer.mint({ sub: 'auditor', roles: ['usage-reader'] });
  });
  after(() => scope.close());

  it('a bucket exhausted by calls spread over both replicas refuses the next call on either, with the same reset time', async () => {
    await earlyInAMinute();
    const sa = await rawSession(a.url, tok.alice!);
    const sb = await rawSession(b.url, tok.bob!);
    for (let i = 0; i < 3; i++) {
      assert.ok((await rawCall(a.url, tok.alice!, sa, 'web__slow_echo', { text: `a${i}`, ms: 0 })).json.result);
      assert.ok((await rawCall(b.url, tok.bob!, sb, 'web__slow_echo', { text: `b${i}`, ms: 0 })).json.result);
    }
    const onA = errorOf(await rawCall(a.url, tok.alice!, sa, 'web__slow_echo', { text: 'a-late', ms: 0 }));
    const onB = errorOf(await rawCall(b.url, tok.bob!, sb, 'web__slow_echo', { text: 'b-late', ms: 0 }));
    for (const e of [onA, onB]) {
      assert.equal(e.code, -32017);
      assert.equal(e.data.bucket, 'shared');
      assert.equal(e.data.used, 6);
    }
    assert.equal(onA.data.resetsAt, onB.data.resetsAt);
    assert.ok(Date.parse(onA.data.resetsAt) > Date.now());

    // Either replica reports what both admitted (usage rows are written within a second).
    const usage = await waitFor(async () => {
      const u = (await (await fetch(`${a.base}/usage`, { headers: { authorization: `Bearer ${tok.auditor}` } })).json()) as any;
      return u.totals?.calls === 6 ? u : null;
    }, 'usage of both replicas on A', 5000, 100);
    assert.equal(usage.store, 'redis');
    assert.deepEqual(usage.bySubject.map((s: any) => [s.subject, s.calls]).sort(), [['alice', 3], ['bob', 3]]);
    assert.ok(usage.rows.every((r: any) => r.resultBytes > 0));
  });

  it('with Redis down, calls with a bucket fail closed (-32018); calls without one still run', async () => {
    await redis.stop();
    const sa = await rawSession(a.url, tok.alice!);
    const t0 = performance.now();
    const e = errorOf(await rawCall(a.url, tok.alice!, sa, 'web__slow_echo', { text: 'no store', ms: 0 }));
    assert.equal(e.code, -32018);
    assert.ok(performance.now() - t0 < 3000, 'refused within the time budget, not after a hang');
    assert.ok((await rawCall(a.url, tok.alice!, sa, 'web__count_calls', {})).json.result);
  });
});
