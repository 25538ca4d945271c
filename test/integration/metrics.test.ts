// Metrics, as Prometheus sees them: a real Prometheus (Debian's package, started by scripts/start-prometheus.sh)
// scrapes two gateways every second while this test drives traffic, and the assertions read the scraped series
// through Prometheus' HTTP API: counts by outcome, latency histograms, the bundle revision (and its change), STDIO
// restarts, sessions, and a metrics listener of its own.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { rawCall, rawSession } from '../helpers/mcp.js';
import { freePort } from '../helpers/oidc.js';
import { ROOT, tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle, buildExampleBundle, CONFLICT_REGO, VETO_REGO } from '../helpers/policies.js';
import { replaceAtomically } from '../helpers/bundles.js';
import { waitFor, waitForStdout } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

// The gateways inherit this environment: metrics outside dev mode need a scrape token.
const SCRAPE_TOKEN = 'scrape-token-for-tests';
process.env.PORTCULLIS_TEST_SCRAPE_TOKEN = SCRAPE_TOKEN;

interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** The project's script, as an operator runs it: start (idempotent) and stop, with a directory and port of our own. */
function prometheusScript(cmd: 'start' | 'stop', env: Record<string, string>): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'start-prometheus.sh'), cmd], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`start-prometheus.sh ${cmd} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('metrics scraped by Prometheus', () => {
  const scope = new Scope();
  let a: RunningGateway;
  let b: RunningGateway;
  let prom: string;
  let token: string;
  let bundlePath: string;
  let dir: string;
  let bMetrics: string;

  before(async () => {
    const t = tempDir('portcullis-metrics-');
    dir = t.dir;
    scope.defer(null, t.cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    token = await issuer.mint({ sub: 'alice-the-subject', roles: ['engineer'] });
    // The bundle file the gateway watches: the example policy (revision example-rev), replaced later by second-rev.
    bundlePath = join(dir, 'active.tar.gz');
    replaceAtomically(bundlePath, readFileSync(buildExampleBundle(dir, { 'veto.rego': VETO_REGO, 'conflict.rego': CONFLICT_REGO })));
    a = scope.defer(
      await startGateway(dir, { auth: issuer.authConfig(), policy: { bundle: bundlePath }, servers: [httpServer('web', up.url, { trust: 'trusted' })], metrics: { bearerTokenEnv: 'PORTCULLIS_TEST_SCRAPE_TOKEN' } }, 'a.yaml'),
      (g) => g.stop(),
    );
    b = scope.defer(
      await startGateway(
        dir,
        {
          policy: { bundle: buildAllowAllBundle(dir) },
          servers: [stdioServer('crashy', { restart: { initialDelayMs: 50, maxDelayMs: 200 } })],
          metrics: { listen: { host: '127.0.0.1', port: 0 }, path: '/prom', defaultMetrics: false },
        },
        'b.yaml',
      ),
      (g) => g.stop(),
    );
    bMetrics = (await waitForStdout(b.process, /Portcullis metrics on (http:\/\/\S+)/))[1]!;

    const scrapeTokenFile = join(dir, 'scrape-token');
    writeFileSync(scrapeTokenFile, SCRAPE_TOKEN);
    const promPort = await freePort();
    const env = {
      PROM_PORT: String(promPort),
      PROM_DIR: join(dir, 'prometheus'),
      PROM_TARGETS: `127.0.0.1:${a.port}/metrics,${new URL(bMetrics).host}/prom`,
      PROM_SCRAPE_INTERVAL: '1s',
      PROM_BEARER_FILE: scrapeTokenFile,
    };
    const out = prometheusScript('start', env);
    scope.defer(null, () => prometheusScript('stop', env));
    prom = /PROMETHEUS_URL=(\S+)/.exec(out)![1]!;
    // Idempotent: a second start reloads the same server instead of starting another.
    assert.match(prometheusScript('start', env), /already running .* reloaded/);
  });
  after(() => scope.close());

  async function query(q: string): Promise<Sample[]> {
    const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** Polls Prometheus until `check` accepts the samples (scrapes are every second). */
  function until(q: string, check: (s: Sample[]) => boolean, what: string): Promise<Sample[]> {
    return waitFor(async () => {
      const s = await query(q);
      return check(s) ? s : null;
    }, `${what} (${q})`, 20_000, 250);
  }

  it('counts calls by outcome (allowed, denied, approval, error) and failures by the stage that stopped them', async () => {
    const sid = await rawSession(a.url, token);
    for (let i = 0; i < 5; i++) assert.ok((await rawCall(a.url, token, sid, 'web__echo', { text: `hello ${i}` })).json.result);
    for (let i = 0; i < 3; i++) assert.equal((await rawCall(a.url, token, sid, 'web__echo', { text: `forbidden ${i}` })).json.error.code, -32010);
    for (let i = 0; i < 2; i++) assert.equal((await rawCall(a.url, token, sid, 'web__delete_thing', { id: `d${i}` })).json.error.code, -32011);
    assert.equal((await rawCall(a.url, token, sid, 'web__echo', { text: 'conflict' })).json.error.code, -32012);
    assert.equal((await rawCall(a.url, token, sid, 'web__no_such_tool', {})).json.error.code, -32602);

    const want: Record<string, number> = { allowed: 5, denied: 4, approval: 2, error: 1 };
    const byOutcome = await until(
      'sum by (outcome) (portcullis_requests_total{job="portcullis",method="tools/call"})',
      (s) => Object.entries(want).every(([o, n]) => s.find((x) => x.metric.outcome === o)?.value === n),
      'tools/call counts by outcome',
    );
    assert.equal(byOutcome.length, 4);
    // A tool name not in the catalog never becomes a label value (an empty server label is no label in Prometheus).
    const unknown = await query('portcullis_requests_total{job="portcullis",method="tools/call",tool="unknown"}');
    assert.deepEqual(unknown.map((s) => [s.metric.server ?? '', s.metric.outcome, s.value]), [['', 'denied', 1]]);
    const stages = await until(
      'sum by (stage) (portcullis_request_failures_total{job="portcullis",method="tools/call"})',
      (s) => s.length >= 3,
      'failures by stage',
    );
    const stage = (n: string) => stages.find((s) => s.metric.stage === n)?.value;
    assert.equal(stage('policy'), 4, 'three vetoes and one evaluation error');
    assert.equal(stage('approval'), 2);
    assert.equal(stage('catalog'), 1);
    // Every call but the unknown tool was counted under the server and catalog tool name.
    const echo = await query('sum(portcullis_requests_total{job="portcullis",server="web",tool="echo"})');
    assert.equal(echo[0]?.value, 9);
  });

  it('has latency histograms: end to end, upstream by tool, and policy evaluation', async () => {
    const total = await until(
      'portcullis_request_duration_seconds_count{job="portcullis",method="tools/call",server="web",outcome="allowed"}',
      (s) => s[0]?.value === 5,
      'end-to-end histogram count',
    );
    assert.equal(total.length, 1);
    const p90 = await query('histogram_quantile(0.9, sum by (le) (portcullis_upstream_duration_seconds_bucket{job="portcullis",server="web",tool="echo"}))');
    assert.ok(Number.isFinite(p90[0]?.value) && p90[0]!.value > 0 && p90[0]!.value < 5, `upstream p90 ${p90[0]?.value}`);
    const buckets = await query('portcullis_upstream_duration_seconds_bucket{job="portcullis",server="web",tool="echo"}');
    assert.ok(buckets.length >= 10, 'one series per bucket');
    assert.equal(buckets.find((s) => s.metric.le === '+Inf')?.value, 5);
    const policy = await query('sum(portcullis_policy_evaluation_seconds_count{job="portcullis",method="tools/call"})');
    assert.ok(policy[0]!.value >= 10, 'one evaluation per decided call');
    const mean = await query('sum(portcullis_policy_evaluation_seconds_sum{job="portcullis"}) / sum(portcullis_policy_evaluation_seconds_count{job="portcullis"})');
    assert.ok(mean[0]!.value > 0 && mean[0]!.value < 0.05, `mean policy evaluation ${mean[0]?.value} s`);
  });

  it('shows the bundle revision and its activation time, and follows a bundle change', async () => {
    const info = await until('portcullis_policy_bundle_info{job="portcullis"}', (s) => s.length === 1, 'bundle info');
    assert.equal(info[0]!.metric.revision, 'example-rev');
    assert.equal(info[0]!.value, 1);
    const at = await query('portcullis_policy_bundle_activated_timestamp_seconds{job="portcullis"}');
    const first = at[0]!.value;
    assert.ok(Math.abs(Date.now() / 1000 - first) < 600, `activated at ${first}`);

    replaceAtomically(bundlePath, readFileSync(buildExampleBundle(dir, {}, 'second')));
    const next = await until('portcullis_policy_bundle_info{job="portcullis"}', (s) => s.length === 1 && s[0]!.metric.revision === 'second-rev', 'the new revision alone');
    assert.equal(next[0]!.value, 1);
    const later = await query('portcullis_policy_bundle_activated_timestamp_seconds{job="portcullis"}');
    assert.ok(later[0]!.value > first);
  });

  it('a metrics listener of its own: sessions, upstream connections and STDIO restarts; not served on the MCP listener', async () => {
    const sid = await rawSession(b.url, null);
    assert.ok((await rawCall(b.url, null, sid, 'crashy__echo', { text: 'before' })).json.result);
    const crashed = await rawCall(b.url, null, sid, 'crashy__crash', {});
    assert.equal(crashed.json.error.code, -32014);
    await until('portcullis_upstream_restarts_total{job="portcullis-2",server="crashy",transport="stdio"}', (s) => s[0]?.value === 1, 'one STDIO restart');
    await until('portcullis_upstream_up{job="portcullis-2",server="crashy"}', (s) => s[0]?.value === 1, 'the restarted upstream is up');
    const sessions = await until('portcullis_client_sessions{job="portcullis-2"}', (s) => (s[0]?.value ?? 0) >= 1, 'client sessions');
    assert.ok(sessions[0]!.value >= 1);
    const conns = await query('portcullis_upstream_connections{job="portcullis-2",server="crashy"}');
    assert.equal(conns[0]?.value, 1, 'one STDIO process');
    assert.equal((await query('up{job="portcullis-2"}'))[0]?.value, 1);
    // defaultMetrics: false on B: no process metrics there, but A has them.
    assert.equal((await query('process_cpu_seconds_total{job="portcullis-2"}')).length, 0);
    assert.equal((await query('process_cpu_seconds_total{job="portcullis"}')).length, 1);

    assert.equal((await fetch(`${b.base}/prom`)).status, 404, 'the MCP listener does not serve metrics');
    assert.equal((await fetch(`${b.base}/metrics`)).status, 404);
  });

  it('outside dev mode, metrics on the gateway listener need the scrape token (401 without it or with a client token)', async () => {
    const none = await fetch(`${a.base}/metrics`);
    assert.equal(none.status, 401);
    assert.ok(!(await none.text()).includes('portcullis_requests_total'));
    assert.equal((await fetch(`${a.base}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).status, 401);
    assert.equal((await fetch(`${a.base}/metrics`, { headers: { Authorization: `Bearer ${SCRAPE_TOKEN}` } })).status, 200);
  });

  it('labels are bounded: no subject, no argument text in the exposition', async () => {
    const text = await (await fetch(`${a.base}/metrics`, { headers: { Authorization: `Bearer ${SCRAPE_TOKEN}` } })).text();
    assert.match(text, /portcullis_requests_total\{/);
    assert.ok(!text.includes('alice-the-subject'), 'no subject ids');
    assert.ok(!text.includes('hello 0') && !text.includes('forbidden'), 'no arguments');
    assert.ok(!text.includes('no_such_tool'), 'no client-chosen tool names');
  });
});
