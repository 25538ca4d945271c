// Approvals shared by two gateway replicas through a real redis-server: a call held on replica A is decided through
// replica B's API and A's waiting client is released (pub/sub); pending approvals survive a restart of B; two
// reviewers racing on two replicas cannot both decide.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { readAudit } from '../helpers/audit.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, textOf } from '../helpers/mcp.js';
import { startOidcProvider, type TestOidc } from '../helpers/oidc.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';
import { Scope } from '../helpers/scope.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const RESOURCE = 'https://portcullis.test/mcp';
const PEOPLE = [
  { sub: 'carol', roles: ['engineer'] },
  { sub: 'rita', groups: ['reviewers'] },
  { sub: 'ravi', groups: ['reviewers'] },
];

describe('approvals across two replicas with Redis', () => {
  const scope = new Scope();
  let dir: string;
  let a: RunningGateway;
  let b: RunningGateway;
  let cfg: Record<string, unknown>;
  let oidc: TestOidc;
  let auditA: string;
  let direct: Awaited<ReturnType<typeof directClient>>;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const tok: Record<string, string> = {};

  before(async () => {
    const t = tempDir('portcullis-replicas-');
    dir = t.dir;
    scope.defer(null, t.cleanup);
    redis = scope.defer(await startRedis(dir), (r) => r.stop());
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    direct = scope.defer(await directClient(up.url), (d) => d.close());
    oidc = scope.defer(await startOidcProvider({ people: PEOPLE, resource: RESOURCE, consoleRedirectUris: [] }), (o) => o.stop());
    for (const p of PEOPLE) tok[p.sub] = await oidc.token(p.sub);
    const bundle = buildExampleBundle(dir);
    auditA = join(dir, 'audit-a.jsonl');
    cfg = {
      auth: { mode: 'jwt', issuer: oidc.issuer, audience: RESOURCE, jwks: { url: oidc.jwksUrl } },
      policy: { bundle },
      servers: [httpServer('ops', up.url)],
      // The backstop re-read runs every 20 s, so a release well under that can only have come through pub/sub.
      approvals: { progressIntervalSeconds: 20, store: { kind: 'redis', redis: { url: redis.url, keyPrefix: 'it:approvals:' } } },
    };
    // Each replica is registered for teardown as soon as it is up: if the other fails to start, none is left behind.
    const started = await Promise.allSettled([
      startGateway(dir, { ...cfg, audit: { file: auditA } }, 'replica-a.yaml').then((g) => scope.defer(g, (x) => x.stop())),
      startGateway(dir, { ...cfg, audit: { file: join(dir, 'audit-b.jsonl') } }, 'replica-b.yaml'),
    ]);
    if (started[1].status === 'fulfilled') scope.defer(null, () => b.stop());
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    a = (started[0] as PromiseFulfilledResult<RunningGateway>).value;
    b = (started[1] as PromiseFulfilledResult<RunningGateway>).value;
  });
  after(() => scope.close());

  async function api(base: string, method: string, path: string, who: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${tok[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  const pendingOn = (base: string, id: string) =>
    waitFor(async () => {
      const r = await api(base, 'GET', '/approvals?status=pending', 'rita');
      return r.json.approvals.find((x: any) => x.arguments.id === id) ?? null;
    }, `pending ${id} on ${base}`, 10_000, 50);

  // The answer may arrive before the test awaits it (a denial races the reviewer's own HTTP response): mark the
  // promise handled at once so an early rejection is not reported as unhandled.
  const held = (client: Client, id: string) => {
    const p = client.callTool({ name: 'ops__delete_thing', arguments: { id } }, undefined, { timeout: 30_000 });
    p.catch(() => {});
    return p;
  };

  it('held on A, still pending after B restarts, approved through B: the client on A gets the upstream result', async (t) => {
    const carol = await connectClient(a.url, tok.carol!);
    const before = await direct.countCalls();
    const call = held(carol, 'r1');
    const seen = await pendingOn(b.base, 'r1');

    // Restart the replica that does not hold the call: the approval lives in Redis, not in B.
    await b.stop();
    b = await startGateway(dir, { ...cfg, audit: { file: join(dir, 'audit-b2.jsonl') } }, 'replica-b2.yaml');
    const again = await pendingOn(b.base, 'r1');
    assert.equal(again.id, seen.id);
    assert.equal(await direct.countCalls(), before, 'still held');

    const t0 = performance.now();
    const ok = await api(b.base, 'POST', `/approvals/${seen.id}/approve`, 'rita', { comment: 'approved on B' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const result = await call;
    const releaseMs = performance.now() - t0;
    t.diagnostic(`approve on B → result on A's client: ${releaseMs.toFixed(1)} ms`);
    assert.equal(textOf(result), 'deleted r1');
    assert.equal(await direct.countCalls(), before + 1);
    // Released by pub/sub, not by the 20 s backstop re-read.
    assert.ok(releaseMs < 8000, `released in ${releaseMs.toFixed(0)} ms`);

    const fromA = await api(a.base, 'GET', `/approvals/${seen.id}`, 'rita');
    assert.equal(fromA.json.status, 'approved');
    assert.ok(fromA.json.used_at);
    const rec = await waitFor(() => readAudit(auditA).find((l) => l.action === 'tools/call' && (l.approval as any)?.id === seen.id) ?? null, 'call record on A', 5000, 50);
    assert.equal(rec.outcome, 'allow');
    assert.equal((rec.approval as any).reviewer.sub, 'rita');
    await carol.close();
  });

  it('denied through B: the client on A gets the reviewer\'s reason', async () => {
    const carol = await connectClient(a.url, tok.carol!);
    const call = held(carol, 'r2');
    const p = await pendingOn(b.base, 'r2');
    const no = await api(b.base, 'POST', `/approvals/${p.id}/deny`, 'ravi', { comment: 'freeze until Monday' });
    assert.equal(no.status, 200, JSON.stringify(no.json));
    const e = await mcpError(() => call);
    assert.equal(e.code, -32011, e.message);
    assert.match(e.message, /Approval denied by ravi: freeze until Monday/);
    await carol.close();
  });

  it('two reviewers on two replicas at once: exactly one decision wins, the other gets 409', async () => {
    const carol = await connectClient(a.url, tok.carol!);
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const call = held(carol, `race-${i}`).catch((e: unknown) => e);
      const p = await pendingOn(a.base, `race-${i}`);
      const [x, y] = await Promise.all([
        api(a.base, 'POST', `/approvals/${p.id}/approve`, 'rita', { comment: 'rita on A' }),
        api(b.base, 'POST', `/approvals/${p.id}/deny`, 'ravi', { comment: 'ravi on B' }),
      ]);
      assert.deepEqual([x.status, y.status].sort(), [200, 409], JSON.stringify([x.json, y.json]));
      const loser = x.status === 409 ? x : y;
      assert.equal(loser.json.error, 'already_decided');
      const end = await call;
      const won = x.status === 200 ? 'approved' : 'denied';
      outcomes.push(won);
      if (won === 'approved') assert.equal(textOf(end), `deleted race-${i}`);
      else assert.match(String((end as Error).message), /ravi on B/);
    }
    assert.equal(outcomes.length, 5);
    await carol.close();
  });

  it('with Redis down, a call that needs approval fails closed at once (-32011, status unavailable); nothing runs', async () => {
    const carol = await connectClient(a.url, tok.carol!);
    const before = await direct.countCalls();
    await redis.stop();
    const t0 = Date.now();
    const e = await mcpError(() => held(carol, 'no-store'));
    assert.equal(e.code, -32011);
    assert.equal((e.data as Record<string, unknown>).status, 'unavailable');
    assert.ok(Date.now() - t0 < 5000, `answered in ${Date.now() - t0} ms`);
    const r = await fetch(`${b.base}/approvals`, { headers: { authorization: `Bearer ${tok.rita}` } });
    assert.equal(r.status, 503);
    assert.equal(await direct.countCalls(), before);
    await carol.close();
  });
});
