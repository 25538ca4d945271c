// Hardening, catalog and policy errors. Row 5: one upstream's tool list (a lone surrogate, 100,000 tools, a 50 MB
// description, malformed tools) must not deny /mcp to everyone nor stall the event loop. Row 17: a lone surrogate in
// call arguments is decided normally. "First hour": a policy calling a builtin the gateway lacks is refused by
// `policy build`, and when activated anyway its denials name the builtin; `policy build` replaces a watched bundle
// atomically.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { readAudit } from '../helpers/audit.js';
import { writePolicyDir } from '../helpers/bundles.js';
import { runCli, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, raw, textOf } from '../helpers/mcp.js';
import { FIXTURES, ROOT, tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { spawnManaged, stopManaged, waitFor, waitForStdout } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const SWITCH_FIXTURE = join(FIXTURES, 'list-switch-upstream.mjs');

async function startSwitchUpstream(): Promise<{ url: string; control(mode: string): Promise<void>; stop(): Promise<void> }> {
  const proc = spawnManaged(process.execPath, [SWITCH_FIXTURE, '--port', '0'], { cwd: ROOT });
  const port = Number((await waitForStdout(proc, /^READY (\d+)$/m))[1]);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async control(mode) {
      const r = await fetch(`http://127.0.0.1:${port}/control/${mode}`, { method: 'POST' });
      assert.equal(r.status, 200, await r.text());
    },
    stop: () => stopManaged(proc),
  };
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe('hardening: one upstream cannot deny /mcp to everyone (row 5, row 17)', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let evil: Awaited<ReturnType<typeof startSwitchUpstream>>;
  let client: Client;
  let token: string;

  const names = async () => (await client.listTools()).tools.map((t) => t.name).sort();
  const logLines = (re: RegExp) => gw.process.stderr().split('\n').filter((l) => re.test(l));
  /** The other upstream's tools and the hostile one's good tools: listed and callable. */
  const assertServing = async (evilTools: string[]) => {
    const listed = await names();
    for (const n of ['web__echo', 'web__add', ...evilTools]) assert.ok(listed.includes(n), `${n} listed in ${listed.length} tools`);
    assert.equal(textOf(await client.callTool({ name: 'web__echo', arguments: { text: 'still here' } })), 'still here');
    assert.match(textOf(await client.callTool({ name: 'evil__hello', arguments: { text: 'hi' } })), /^hello: /);
  };
  /** Switches the hostile list and waits until the gateway has rejected it (one more rejection line for evil). */
  const switchAndAwaitRejection = async (mode: string, bound: string) => {
    const before = logLines(/upstream tool list rejected/).length;
    await evil.control(mode);
    const line = await waitFor(() => logLines(/upstream tool list rejected/).slice(before)[0], `rejection of the ${mode} list`, 20_000);
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.equal(rec.server, 'evil');
    assert.equal(rec.bound, bound);
    return rec;
  };

  /**
   * /healthz latency while clients keep listing and calling on /mcp: before the fix every tools/list re-ran an
   * over-budget evaluation and /healthz waited 1-1.6 s behind it.
   */
  const healthzUnderLoad = async (t: TestContext) => {
    let stop = false;
    const load = async () => {
      const c = await connectClient(gw.url, token, 'it-load');
      try {
        while (!stop) {
          await c.listTools();
          await c.callTool({ name: 'web__echo', arguments: { text: 'load' } });
        }
      } finally {
        await c.close();
      }
    };
    const loaders = [load(), load(), load()];
    const samples: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now();
        const r = await raw(`${gw.base}/healthz`);
        samples.push(performance.now() - t0);
        assert.equal(r.status, 200);
      }
    } finally {
      stop = true;
      await Promise.all(loaders);
    }
    const p50 = quantile(samples, 0.5);
    const p95 = quantile(samples, 0.95);
    t.diagnostic(`/healthz under load: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (${samples.length} samples)`);
    return { p50, p95 };
  };

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const bundle = buildExampleBundle(dir);
    const web = scope.defer(await startHttpUpstream(), (u) => u.stop());
    evil = scope.defer(await startSwitchUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        // The production budget (50 ms) is what an oversized list blew; 200 ms leaves room for a busy test machine.
        policy: { bundle, timeoutMs: 200 },
        // The response-size bound (servers[].maxResponseBytes, 16 MiB by default) would cut the 50 MB list before the
        // catalog's own bounds see it: raised here so that those are what is tested.
        servers: [httpServer('web', web.url, { trust: 'trusted' }), httpServer('evil', evil.url, { trust: 'trusted' }, { maxResponseBytes: 128 * 1024 * 1024 })],
      }),
      (g) => g.stop(),
    );
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    client = scope.defer(await connectClient(gw.url, token), (c) => c.close());
    await assertServing(['evil__hello', 'evil__ping']);
  });
  after(() => scope.close());

  it('a lone surrogate in one tool description: /mcp still lists and calls every tool, that one included', async () => {
    await evil.control('surrogate');
    await waitFor(async () => (await names()).includes('evil__lone'), 'the list with the lone surrogate', 10_000);
    await assertServing(['evil__hello', 'evil__ping', 'evil__lone']);
    const listed = (await client.listTools()).tools.find((t) => t.name === 'evil__lone');
    // Strict JSON clients (serde_json) would refuse the whole list over one lone surrogate; clients get U+FFFD.
    assert.equal(listed?.description, 'broken \ufffd text');
    assert.match(textOf(await client.callTool({ name: 'evil__lone', arguments: {} })), /^lone: /);
  });

  it('row 17: a lone surrogate in call arguments is decided normally; the upstream gets the U+FFFD policy judged', async () => {
    // {"text":"a\ud800b"} is valid JSON. Policy and upstream both see "a\ufffdb" (why: src/policy/input-text.ts).
    const r = await client.callTool({ name: 'web__echo', arguments: { text: 'a\ud800b' } });
    assert.equal(r.isError ?? false, false);
    assert.equal(textOf(r), 'a\ufffdb');
  });

  it('100,000 tools: rejected for that upstream only, its last good list keeps serving, /healthz stays fast', async (t) => {
    const rec = await switchAndAwaitRejection('many', 'toolList.maxTools');
    assert.equal(rec.actual, 100_000);
    assert.equal(rec.limit, 2000);
    await assertServing(['evil__hello', 'evil__ping', 'evil__lone']);
    assert.ok(!(await names()).includes('evil__t0'));
    const { p50 } = await healthzUnderLoad(t);
    assert.ok(p50 < 250, `/healthz p50 ${p50.toFixed(1)} ms`);
  });

  it('a 50 MB description: rejected for that upstream only, /healthz stays fast', async (t) => {
    const rec = await switchAndAwaitRejection('huge', 'toolList.maxBytes');
    assert.equal(rec.limit, 4 * 1024 * 1024);
    await assertServing(['evil__hello', 'evil__ping', 'evil__lone']);
    assert.ok(!(await names()).includes('evil__essay'));
    const { p50 } = await healthzUnderLoad(t);
    assert.ok(p50 < 250, `/healthz p50 ${p50.toFixed(1)} ms`);
  });

  it('malformed tools are dropped one by one with a log line; the rest of that upstream is listed', async () => {
    const before = logLines(/upstream tools dropped/).length;
    await evil.control('malformed');
    await waitFor(async () => (await names()).includes('evil__still_good'), 'the list with malformed tools', 10_000);
    const listed = await names();
    assert.deepEqual(listed.filter((n) => n.startsWith('evil__')), ['evil__hello', 'evil__ping', 'evil__still_good']);
    await assertServing(['evil__hello', 'evil__still_good']);
    const line = JSON.parse(logLines(/upstream tools dropped/)[before]!) as { server: string; dropped: number; examples: Array<{ problem: string }> };
    assert.equal(line.server, 'evil');
    assert.equal(line.dropped, 4);
    assert.ok(line.examples.some((e) => /inputSchema/.test(e.problem)));
  });
});

describe('policy errors in the first hour: missing builtins, atomic builds', () => {
  const scope = new Scope();
  let dir: string;
  before(() => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
  });
  after(() => scope.close());

  const HTTP_SEND_REGO = `package portcullis

visible contains t.key if some t in input.tools

default decision := {"outcome": "deny", "reasons": ["not allowed"]}

decision := {"outcome": "allow"} if {
	r := http.send({"method": "GET", "url": "http://127.0.0.1:9/allowed"})
	r.status_code == 200
}
`;

  it('policy build refuses a policy calling http.send, names it, and writes nothing; the override writes it with a warning', async () => {
    const src = writePolicyDir(join(dir, 'http-send'), { 'p.rego': HTTP_SEND_REGO });
    const out = join(dir, 'http-send.tar.gz');
    const refused = await runCli(['policy', 'build', src, '-o', out]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /builtins the gateway does not provide: http\.send/);
    assert.match(refused.stderr, /--allow-missing-builtins/);
    assert.equal(existsSync(out), false);
    const forced = await runCli(['policy', 'build', src, '-o', out, '--allow-missing-builtins']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /WARNING: .*http\.send/);
    assert.equal(existsSync(out), true);
  });

  it('activated anyway, every call is denied with a reason naming the builtin: caller, audit and log; no source path', async () => {
    const bundle = join(dir, 'http-send.tar.gz');
    if (!existsSync(bundle)) {
      const r = await runCli(['policy', 'build', writePolicyDir(join(dir, 'http-send'), { 'p.rego': HTTP_SEND_REGO }), '-o', bundle, '--allow-missing-builtins']);
      assert.equal(r.code, 0, r.stderr);
    }
    const web = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const auditFile = join(dir, 'audit-builtin.jsonl');
    const gw = scope.defer(await startGateway(dir, { policy: { bundle }, servers: [httpServer('web', web.url)], audit: { file: auditFile } }, 'builtin.yaml'), (g) => g.stop());
    const client = scope.defer(await connectClient(gw.url, null), (c) => c.close());
    const e = await mcpError(() => client.callTool({ name: 'web__echo', arguments: { text: 'x' } }));
    assert.equal(e.code, -32012);
    assert.match(e.message, /builtin http\.send, which the gateway does not provide \(policies\/README\.md §7\)/);
    assert.doesNotMatch(e.message, /unknown error|\.rego|\/tmp\//);
    const rec = await waitFor(() => readAudit(auditFile).find((r) => r.action === 'tools/call'), 'the audit record');
    assert.match(rec.reasons.join(' '), /http\.send/);
    const warning = gw.process.stderr().split('\n').find((l) => l.includes('policy bundle calls builtins the gateway does not provide'));
    assert.deepEqual((JSON.parse(warning ?? '{}') as { builtins?: string[] }).builtins, ['http.send']);
    const failed = gw.process.stderr().split('\n').find((l) => /"message":"(call|request) failed"/.test(l) && l.includes('"stage":"policy"'));
    assert.match(failed ?? '', /builtin http\.send/);
  });

  it('policy build replaces a watched bundle atomically: five rebuilds, five activations, no rejection', async () => {
    const src = writePolicyDir(join(dir, 'plain'), { 'p.rego': 'package portcullis\n\nvisible contains t.key if some t in input.tools\n\ndecision := {"outcome": "allow"}\n' });
    const bundle = join(dir, 'watched.tar.gz');
    const first = await runCli(['policy', 'build', src, '-o', bundle, '--revision', 'r0']);
    assert.equal(first.code, 0, first.stderr);
    const web = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const gw = scope.defer(await startGateway(dir, { policy: { bundle, pollIntervalMs: 50 }, servers: [httpServer('web', web.url)] }, 'watched.yaml'), (g) => g.stop());
    for (let i = 1; i <= 5; i++) {
      // Filler data makes the archive large enough that an in-place write is seen half-done.
      writeFileSync(join(src, 'data.json'), JSON.stringify({ filler: Array.from({ length: 20_000 }, (_, k) => `${i}-${k}-${Math.random()}`) }));
      const r = await runCli(['policy', 'build', src, '-o', bundle, '--revision', `r${i}`]);
      assert.equal(r.code, 0, r.stderr);
      await waitFor(() => gw.process.stderr().includes(`"revision":"r${i}"`), `activation of r${i}`, 10_000);
    }
    assert.doesNotMatch(gw.process.stderr(), /policy bundle rejected/);
    assert.equal(readFileSync(bundle).subarray(0, 2).toString('hex'), '1f8b');
  });
});
