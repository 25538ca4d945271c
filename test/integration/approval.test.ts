// Human-in-the-loop approvals (checklist C19) against the real gateway process, a real OpenID provider
// (oidc-provider) issuing every token, the example Rego policy built by the real OPA CLI, and the HTTP fixture:
// approve, deny, expire, withdraw, binding and single use, four eyes, the webhook, console sign-in with CSRF, audit.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { readAudit, type AuditLine } from '../helpers/audit.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, postHeaders, rawSession, rpc, textOf, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { CookieWalker, freePort, startOidcProvider, type TestOidc } from '../helpers/oidc.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const RESOURCE = 'https://portcullis.test/mcp';
const CARD = '4111 1111 1111 1111';
const PEOPLE = [
  { sub: 'carol', name: 'Carol Agent', roles: ['engineer'] },
  { sub: 'alice', name: 'Alice Both', roles: ['engineer'], groups: ['reviewers'] },
  { sub: 'rita', name: 'Rita Reviewer', groups: ['reviewers'] },
  { sub: 'dave', name: 'Dave Auditor', roles: ['analyst'], groups: ['auditors'] },
];
const REASON = 'destructive tool ops__delete_thing requires approval by reviewers';

interface Delivery {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  status: number;
}

/** A webhook receiver that fails the first delivery with 503, so the gateway's retry is exercised. */
async function startWebhookReceiver(): Promise<{ url: string; deliveries: Delivery[]; stop(): Promise<void> }> {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = deliveries.length === 0 ? 503 : 204;
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, deliveries, stop: () => new Promise((r) => server.close(() => r())) };
}

describe('approvals: held calls, reviewers, console, webhook, audit', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let fast: RunningGateway;
  let oidc: TestOidc;
  let auditFile: string;
  let fastAudit: string;
  let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let direct: Awaited<ReturnType<typeof directClient>>;
  const tok: Record<string, string> = {};
  const WEBHOOK_SECRET = 'webhook-secret-for-tests-0123456789';

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-approval-');
    scope.defer(null, cleanup);
    auditFile = join(dir, 'audit.jsonl');
    fastAudit = join(dir, 'audit-fast.jsonl');
    const bundle = buildExampleBundle(dir);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    direct = scope.defer(await directClient(up.url), (d) => d.close());
    hook = scope.defer(await startWebhookReceiver(), (h) => h.stop());
    const port = await freePort();
    oidc = scope.defer(await startOidcProvider({ people: PEOPLE, resource: RESOURCE, consoleRedirectUris: [`http://127.0.0.1:${port}/console/callback`] }), (o) => o.stop());
    for (const p of PEOPLE) tok[p.sub] = await oidc.token(p.sub);

    // The gateway process inherits this environment: secrets are named in the config, never written in it.
    process.env.PORTCULLIS_IT_CONSOLE_SECRET = oidc.consoleClientSecret;
    process.env.PORTCULLIS_IT_WEBHOOK_SECRET = WEBHOOK_SECRET;
    const auth = { mode: 'jwt', issuer: oidc.issuer, audience: RESOURCE, jwks: { url: oidc.jwksUrl } };
    const servers = [httpServer('ops', up.url)];
    // Each gateway is registered for teardown as soon as it is up: if the other fails to start, none is left behind.
    const started = await Promise.allSettled([
      startGateway(dir, {
        listen: { host: '127.0.0.1', port },
        auth,
        policy: { bundle },
        servers,
        audit: { file: auditFile },
        approvals: {
          progressIntervalSeconds: 0.5,
          console: { clientId: oidc.consoleClientId, clientSecretEnv: 'PORTCULLIS_IT_CONSOLE_SECRET', scopes: ['openid', 'profile', 'groups'] },
          webhook: { url: hook.url, secretEnv: 'PORTCULLIS_IT_WEBHOOK_SECRET', initialBackoffMs: 50 },
        },
      }).then((g) => scope.defer(g, (x) => x.stop())),
      // A second gateway whose cap cuts the policy's 300 s timeout to 2 s: the expiry case.
      startGateway(dir, { auth, policy: { bundle }, servers, audit: { file: fastAudit }, approvals: { defaultTimeoutSeconds: 2, maxTimeoutSeconds: 2 } }, 'fast.yaml').then((g) =>
        scope.defer(g, (x) => x.stop()),
      ),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    [gw, fast] = started.map((r) => (r as PromiseFulfilledResult<RunningGateway>).value) as [RunningGateway, RunningGateway];
  });
  after(() => scope.close());

  async function api(method: string, path: string, who: string | null, body?: unknown, base = gw.base): Promise<{ status: number; json: any; headers: Headers }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (who) headers.authorization = `Bearer ${tok[who]}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json, headers: res.headers };
  }

  /** Waits until `reviewer` sees a pending approval of delete_thing with these (redacted) arguments; returns it. */
  async function pending(match: (a: any) => boolean, reviewer = 'rita', base = gw.base): Promise<any> {
    return waitFor(async () => {
      const r = await api('GET', '/approvals?status=pending', reviewer, undefined, base);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json.approvals.find(match) ?? null;
    }, 'a pending approval', 10_000, 50);
  }

  async function auditWhere(file: string, pred: (l: AuditLine) => boolean, what: string): Promise<AuditLine> {
    return waitFor(() => readAudit(file).find(pred) ?? null, what, 5000, 50);
  }

  // The answer may arrive before the test awaits it (a denial races the reviewer's own HTTP response): mark the
  // promise handled at once so an early rejection is not reported as unhandled.
  const deleteThing = (client: Client, id: string, extra: Record<string, unknown> = {}) => {
    const p = client.callTool({ name: 'ops__delete_thing', arguments: { id } }, undefined, { timeout: 30_000, ...extra });
    p.catch(() => {});
    return p;
  };

  it('approve: the call is held (upstream untouched), then runs once and the client gets the upstream result', async () => {
    const carol = await connectClient(gw.url, tok.carol!);
    const before = await direct.countCalls();
    const progress: Array<{ progress: number; message?: string }> = [];
    const call = deleteThing(carol, `card ${CARD}`, { onprogress: (p: { progress: number; message?: string }) => progress.push(p), resetTimeoutOnProgress: true });

    const a = await pending((x) => x.requester.sub === 'carol' && x.status === 'pending');
    // What the reviewer sees: who, which agent, which tool, the arguments as policy redacts them, the policy's reason.
    assert.equal(a.server, 'ops');
    assert.equal(a.tool, 'delete_thing');
    // An agent's client-credentials token names no person, so there is no display name.
    assert.deepEqual(a.requester, { iss: oidc.issuer, sub: 'carol', client_id: 'carol' });
    assert.deepEqual(a.arguments, { id: 'card [redacted:card]' });
    assert.deepEqual(a.reasons, [REASON]);
    assert.deepEqual(a.approvers, ['reviewers']);
    assert.equal(a.you.can_decide, true);
    assert.equal(a.console_url, `${gw.base}/console/approvals/${a.id}`);
    assert.ok(Date.parse(a.expires_at) - Date.parse(a.created_at) === 300_000, 'timeout from the policy (timeout_seconds 300)');

    // Held: the client's request is open, nothing reached the upstream, and the client hears "awaiting approval".
    await waitFor(() => progress.length >= 2 || null, 'two progress notifications', 5000, 50);
    assert.match(progress[0]!.message ?? '', new RegExp(`awaiting approval ${a.id} by reviewers`));
    assert.equal(await direct.countCalls(), before);

    const ok = await api('POST', `/approvals/${a.id}/approve`, 'rita', { comment: 'ok, change OPS-1' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.status, 'approved');
    assert.equal(ok.json.decision.comment, 'ok, change OPS-1');

    const result = await call;
    assert.equal(textOf(result), 'deleted card [redacted:card]');
    assert.equal(await direct.countCalls(), before + 1);
    const after = await api('GET', `/approvals/${a.id}`, 'rita');
    assert.equal(after.json.status, 'approved');
    assert.ok(after.json.used_at, 'marked used');

    // Single use, and a decided approval cannot be decided again.
    const again = await api('POST', `/approvals/${a.id}/approve`, 'rita', { comment: 'twice' });
    assert.equal(again.status, 409);
    assert.equal(again.json.error, 'already_decided');

    // Audited: the reviewer's decision (identity and comment), and the call with the approval that let it run.
    const review = await auditWhere(auditFile, (l) => l.action === 'approval/approve' && (l.approval as any)?.id === a.id && l.outcome === 'allow', 'approve record');
    assert.equal((review.subject as any).sub, 'rita');
    assert.equal((review.approval as any).comment, 'ok, change OPS-1');
    assert.equal((review.approval as any).requester.sub, 'carol');
    const rec = await auditWhere(auditFile, (l) => l.action === 'tools/call' && (l.approval as any)?.id === a.id, 'call record');
    assert.equal(rec.outcome, 'allow');
    const { release, ...granted } = rec.approval as Record<string, unknown>;
    assert.deepEqual(granted, { id: a.id, status: 'approved', reviewer: { iss: oidc.issuer, sub: 'rita' }, comment: 'ok, change OPS-1' });
    // Re-decided at release under the same bundle (src/approval/release.ts): still needs approval, so it ran.
    assert.equal((release as { outcome: string }).outcome, 'needs_approval');
    assert.ok(!JSON.stringify(readAudit(auditFile)).includes(CARD), 'no raw card number in the audit');
    await carol.close();
  });

  it('tasks (2025-11-25): a held call runs as an MCP task; approve, deny and cancel through tasks/get, tasks/result, tasks/cancel', async () => {
    const v = { 'mcp-protocol-version': '2025-11-25' };
    const sid = await rawSession(gw.url, tok.carol!, '2025-11-25');
    const send = (id: number, method: string, params: Record<string, unknown>) => rpc(gw.url, tok.carol!, sid, { jsonrpc: '2.0', id, method, params }, v);
    const asTask = (id: number, thing: string) => send(id, 'tools/call', { name: 'ops__delete_thing', arguments: { id: thing }, task: { ttl: 60_000 } });
    const held = (thing: string) => pending((x) => x.requester.sub === 'carol' && x.status === 'pending' && x.arguments?.id === thing);

    const listed = await send(1, 'tools/list', {});
    assert.equal(listed.json.result.tools.find((t: any) => t.name === 'ops__delete_thing').execution.taskSupport, 'optional');

    // Approve: the call answers at once with a task, is held, then runs once; tasks/result gives the upstream result.
    const before = await direct.countCalls();
    const created = await asTask(2, 'task-approved');
    assert.equal(created.status, 200, created.text);
    const task = created.json.result.task;
    assert.equal(task.status, 'working');
    const a = await held('task-approved');
    const polled = await send(3, 'tasks/get', { taskId: task.taskId });
    assert.equal(polled.json.result.status, 'working');
    assert.match(polled.json.result.statusMessage ?? '', /awaiting approval/);
    assert.equal(await direct.countCalls(), before, 'nothing ran while held');
    assert.equal((await api('POST', `/approvals/${a.id}/approve`, 'rita', { comment: 'task ok' })).status, 200);
    const result = await send(4, 'tasks/result', { taskId: task.taskId });
    assert.equal(result.json.result.content[0].text, 'deleted task-approved');
    assert.equal(result.json.result._meta['io.modelcontextprotocol/related-task'].taskId, task.taskId);
    assert.equal((await send(5, 'tasks/get', { taskId: task.taskId })).json.result.status, 'completed');
    assert.equal(await direct.countCalls(), before + 1);

    // Deny: tasks/result answers with the call's own error, carrying the reviewer's reason.
    const denied = (await asTask(6, 'task-denied')).json.result.task;
    const d = await held('task-denied');
    assert.equal((await api('POST', `/approvals/${d.id}/deny`, 'rita', { comment: 'not today' })).status, 200);
    const failed = await send(7, 'tasks/result', { taskId: denied.taskId });
    assert.equal(failed.json.error.code, -32011);
    assert.match(failed.json.error.message, /not today/);
    assert.equal((await send(8, 'tasks/get', { taskId: denied.taskId })).json.result.status, 'failed');

    // Cancel: the task is cancelled and its pending approval withdrawn; nothing runs.
    const cancelled = (await asTask(9, 'task-cancelled')).json.result.task;
    const c = await held('task-cancelled');
    const cancel = await send(10, 'tasks/cancel', { taskId: cancelled.taskId });
    assert.equal(cancel.json.result.status, 'cancelled');
    await waitFor(async () => ((await api('GET', `/approvals/${c.id}`, 'rita')).json.status === 'withdrawn' ? true : null), 'the approval withdrawn', 5000, 50);
    assert.equal(await direct.countCalls(), before + 1);
    assert.equal((await send(11, 'tasks/list', {})).json.result.tasks.length, 3);

    // A task belongs to its session: another session (even of the same subject) does not see it.
    const other = await rawSession(gw.url, tok.carol!, '2025-11-25');
    const foreign = await rpc(gw.url, tok.carol!, other, { jsonrpc: '2.0', id: 12, method: 'tasks/get', params: { taskId: task.taskId } }, v);
    assert.equal(foreign.json.error.code, -32602);
  });

  it('the webhook announced it: signed (HMAC), retried after a 503, console link, arguments redacted', async () => {
    const delivered = await waitFor(() => (hook.deliveries.length >= 2 ? hook.deliveries : null), 'two webhook deliveries', 10_000, 50);
    assert.equal(delivered[0]!.status, 503);
    assert.equal(delivered[1]!.status, 204);
    for (const d of delivered) {
      const sig = String(d.headers['portcullis-signature']);
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
      assert.ok(m, sig);
      const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${m[1]}.${d.body}`).digest('hex');
      assert.equal(m[2], expected, 'signature verifies with the shared secret');
      assert.ok(Math.abs(Date.now() / 1000 - Number(m[1])) < 60);
      assert.ok(!d.body.includes(CARD) && !d.body.includes('4111'), 'never the unredacted arguments');
    }
    const p = JSON.parse(delivered[1]!.body);
    assert.equal(p.type, 'approval.pending');
    assert.equal(p.approval.tool, 'delete_thing');
    assert.equal(p.approval.requester.sub, 'carol');
    assert.deepEqual(p.approval.arguments, { id: 'card [redacted:card]' });
    assert.equal(p.approval.console_url, `${gw.base}/console/approvals/${p.approval.id}`);
    assert.equal(delivered[1]!.headers['portcullis-delivery'], delivered[0]!.headers['portcullis-delivery'], 'a retry is the same delivery');
  });

  it('changed arguments need a new approval, and so does the same call again (single use); deny returns the reason', async () => {
    const carol = await connectClient(gw.url, tok.carol!);
    const before = await direct.countCalls();
    const first = (await api('GET', '/approvals?status=approved', 'rita')).json.approvals[0];

    const changed = deleteThing(carol, 'x2');
    const a2 = await pending((x) => x.arguments.id === 'x2' && x.status === 'pending');
    assert.notEqual(a2.id, first.id, 'a new approval, not the earlier one');
    const no = await api('POST', `/approvals/${a2.id}/deny`, 'rita', { comment: 'not in a change window' });
    assert.equal(no.status, 200, JSON.stringify(no.json));
    const e = await mcpError(() => changed);
    assert.equal(e.code, -32011);
    assert.match(e.message, /Approval denied by rita: not in a change window/);
    const data = e.data as Record<string, unknown>;
    assert.equal(data.status, 'denied');
    assert.equal(data.approvalId, a2.id);
    assert.deepEqual(data.reasons, [REASON]);

    // Exactly the approved call again: held again under a new id.
    const same = deleteThing(carol, `card ${CARD}`);
    const a3 = await pending((x) => x.arguments.id === 'card [redacted:card]' && x.status === 'pending');
    assert.notEqual(a3.id, first.id);
    assert.equal((await api('POST', `/approvals/${a3.id}/deny`, 'rita', { comment: 'once was enough' })).status, 200);
    assert.match((await mcpError(() => same)).message, /once was enough/);
    assert.equal(await direct.countCalls(), before, 'neither call reached the upstream');

    const rec = await auditWhere(auditFile, (l) => l.action === 'tools/call' && (l.approval as any)?.id === a2.id, 'denied call record');
    assert.equal(rec.outcome, 'approval_required');
    assert.equal(rec.error_code, -32011);
    assert.deepEqual(rec.approval, { id: a2.id, status: 'denied', reviewer: { iss: oidc.issuer, sub: 'rita' }, comment: 'not in a change window' });
    const review = await auditWhere(auditFile, (l) => l.action === 'approval/deny' && (l.approval as any)?.id === a2.id, 'deny record');
    assert.equal((review.subject as any).sub, 'rita');
    assert.equal(review.outcome, 'deny');
    await carol.close();
  });

  it('four eyes: the requester cannot approve their own call; a non-approver cannot approve; both refusals audited', async () => {
    const alice = await connectClient(gw.url, tok.alice!);
    const call = deleteThing(alice, 'mine');
    const a = await pending((x) => x.requester.sub === 'alice' && x.status === 'pending');

    // Alice is a reviewer, and sees her own request, but may not decide it.
    const own = await api('GET', `/approvals/${a.id}`, 'alice');
    assert.equal(own.status, 200);
    assert.deepEqual(own.json.you, { can_decide: false, why_not: 'own_request' });
    const self = await api('POST', `/approvals/${a.id}/approve`, 'alice', { comment: 'looks fine to me' });
    assert.equal(self.status, 403);
    assert.equal(self.json.error, 'own_request');

    // Dave is not in the approver group: he neither sees it nor decides it.
    const notMine = await api('POST', `/approvals/${a.id}/approve`, 'dave', { comment: 'sure' });
    assert.equal(notMine.status, 403);
    assert.equal(notMine.json.error, 'not_an_approver');
    assert.equal((await api('GET', `/approvals/${a.id}`, 'dave')).status, 403);
    const list = await api('GET', '/approvals', 'dave');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.approvals, []);

    // Clear 4xx for the rest: unknown id, no credentials, a denial without a reason, bad JSON.
    const unknown = await api('POST', '/approvals/00000000-0000-4000-8000-000000000000/approve', 'rita', {});
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error, 'unknown_approval');
    const anon = await api('GET', '/approvals', null);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Bearer /);
    const noReason = await api('POST', `/approvals/${a.id}/deny`, 'rita', { comment: '  ' });
    assert.equal(noReason.status, 400);
    const badJson = await fetch(`${gw.base}/approvals/${a.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${tok.rita}`, 'content-type': 'application/json' }, body: '{' });
    assert.equal(badJson.status, 400);

    // Still pending after all that; another reviewer releases it.
    assert.equal((await api('POST', `/approvals/${a.id}/approve`, 'rita', { comment: 'second pair of eyes' })).status, 200);
    assert.equal(textOf(await call), 'deleted mine');

    const refusals = await waitFor(() => {
      const r = readAudit(auditFile).filter((l) => l.action === 'approval/approve' && (l.approval as any)?.id === a.id && l.outcome === 'deny');
      return r.length >= 2 ? r : null;
    }, 'two refusal records', 5000, 50);
    assert.deepEqual(refusals.map((l) => [(l.subject as any).sub, l.error_code, l.reasons[0]!.split(':')[0]]).sort(), [
      ['alice', 403, 'own_request'],
      ['dave', 403, 'not_an_approver'],
    ]);
    await alice.close();
  });

  it('a client that cancels (notifications/cancelled) or disconnects withdraws its request; nothing runs', async () => {
    const carol = await connectClient(gw.url, tok.carol!);
    const before = await direct.countCalls();
    const ac = new AbortController();
    const call = deleteThing(carol, 'cancel-me', { signal: ac.signal }).catch((e: unknown) => e);
    const a = await pending((x) => x.arguments.id === 'cancel-me' && x.status === 'pending');
    ac.abort('changed my mind');
    await call;
    const closed = await waitFor(async () => {
      const r = await api('GET', `/approvals/${a.id}`, 'rita');
      return r.json.status === 'withdrawn' ? r.json : null;
    }, 'withdrawn', 5000, 50);
    assert.equal(closed.closed_reason, 'the client cancelled the call or disconnected');
    const late = await api('POST', `/approvals/${a.id}/approve`, 'rita', { comment: 'too late' });
    assert.equal(late.status, 409);
    assert.equal(late.json.status, 'withdrawn');
    const rec = await auditWhere(auditFile, (l) => l.action === 'tools/call' && (l.approval as any)?.id === a.id, 'withdrawn call record');
    assert.equal((rec.approval as any).status, 'withdrawn');

    // A plain disconnect: the HTTP request is dropped while held.
    const sid = await rawSession(gw.url, tok.carol!);
    const req = httpRequest(`${gw.url}`, { method: 'POST', headers: postHeaders(tok.carol!, sid, { 'mcp-protocol-version': PROTOCOL_VERSION }) });
    req.on('error', () => {});
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'ops__delete_thing', arguments: { id: 'hang-up' } } }));
    const b = await pending((x) => x.arguments.id === 'hang-up' && x.status === 'pending');
    req.destroy();
    await waitFor(async () => ((await api('GET', `/approvals/${b.id}`, 'rita')).json.status === 'withdrawn' ? true : null), 'withdrawn after disconnect', 5000, 50);
    assert.equal(await direct.countCalls(), before);
    await carol.close();
  });

  it('expiry: nobody decides within the timeout, the client gets the reason, a late approval is refused', async () => {
    const carol = await connectClient(fast.url, tok.carol!);
    const started = Date.now();
    const call = deleteThing(carol, 'slowpoke');
    const a = await pending((x) => x.arguments.id === 'slowpoke', 'rita', fast.base);
    const e = await mcpError(() => call);
    const waited = Date.now() - started;
    assert.equal(e.code, -32011);
    assert.match(e.message, /Approval expired: no reviewer decided within 2 s/);
    assert.equal((e.data as Record<string, unknown>).status, 'expired');
    assert.ok(waited >= 1900 && waited < 6000, `held about 2 s (${waited} ms)`);
    const late = await api('POST', `/approvals/${a.id}/approve`, 'rita', { comment: 'sorry, was at lunch' }, fast.base);
    assert.equal(late.status, 409);
    const rec = await auditWhere(fastAudit, (l) => l.action === 'tools/call' && (l.approval as any)?.id === a.id, 'expired call record');
    assert.equal((rec.approval as any).status, 'expired');
    assert.equal((rec.approval as any).closed_reason, 'no reviewer decided in time');
    await carol.close();
  });

  it('SIGTERM withdraws the calls a gateway holds: their clients get an answer at once, not a cut connection', async () => {
    const carol = await connectClient(fast.url, tok.carol!);
    const call = deleteThing(carol, 'at-shutdown');
    const a = await pending((x) => x.arguments.id === 'at-shutdown' && x.status === 'pending', 'rita', fast.base);
    const t0 = Date.now();
    const stopping = fast.stop();
    const e = await mcpError(() => call);
    assert.equal(e.code, -32011);
    assert.match(e.message, /Approval request withdrawn: the gateway is shutting down/);
    assert.ok(Date.now() - t0 < 1500, `answered ${Date.now() - t0} ms after SIGTERM (grace period is 10 s)`);
    await stopping;
    const rec = await auditWhere(fastAudit, (l) => l.action === 'tools/call' && (l.approval as any)?.id === a.id, 'withdrawn-at-shutdown record');
    assert.equal((rec.approval as any).status, 'withdrawn');
    await carol.close().catch(() => {});
  });

  it('console: OIDC sign-in (code + PKCE) at the provider; HttpOnly SameSite cookie; CSRF token required to decide', async () => {
    // The sign-in starts with PKCE S256, state and nonce.
    const start = await fetch(`${gw.base}/console/login`, { redirect: 'manual' });
    const to = new URL(start.headers.get('location')!);
    assert.equal(`${to.origin}`, oidc.issuer);
    assert.equal(to.searchParams.get('code_challenge_method'), 'S256');
    assert.match(to.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(to.searchParams.get('state') && to.searchParams.get('nonce'));
    assert.equal(to.searchParams.get('redirect_uri'), `${gw.base}/console/callback`);

    const page = await fetch(`${gw.base}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await page.text(), /<title>Approvals · Portcullis<\/title>/);

    const rita = new CookieWalker();
    const landed = await rita.signIn(gw.base, 'rita');
    assert.equal(landed, `${gw.base}/console`);
    const cookie = rita.setCookies.find((c) => c.startsWith('portcullis-console=') && !/Max-Age=0/.test(c))!;
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /Secure/, 'no TLS here, so not Secure (the gateway sets it when publicUrl is https)');
    const session = await (await rita.fetch(`${gw.base}/console/session`)).json();
    assert.equal(session.signedIn, true);
    assert.equal(session.user.sub, 'rita');
    assert.deepEqual(session.user.groups, ['reviewers']);

    const carol = await connectClient(gw.url, tok.carol!);
    const call = deleteThing(carol, 'from-console');
    const a = await pending((x) => x.arguments.id === 'from-console' && x.status === 'pending');
    const viaCookie = (headers: Record<string, string>) =>
      rita.fetch(`${gw.base}/approvals/${a.id}/approve`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ comment: 'approved in the console' }) });
    // The session cookie alone is not enough to change state: a forged cross-site request has no token.
    const forged = await viaCookie({});
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as any).error, 'csrf');
    assert.equal((await viaCookie({ 'x-csrf-token': 'x'.repeat(session.csrf.length) })).status, 403);
    const listed = await (await rita.fetch(`${gw.base}/approvals`)).json();
    assert.ok(listed.approvals.some((x: any) => x.id === a.id), 'reading needs no token');
    const ok = await viaCookie({ 'x-csrf-token': session.csrf });
    assert.equal(ok.status, 200);
    assert.equal(textOf(await call), 'deleted from-console');

    // Recent decisions: the console's second list.
    const recent = await (await rita.fetch(`${gw.base}/approvals?status=closed`)).json();
    const mine = recent.approvals.find((x: any) => x.id === a.id);
    assert.equal(mine.decision.reviewer.sub, 'rita');
    assert.equal(mine.decision.comment, 'approved in the console');
    const review = await auditWhere(auditFile, (l) => l.action === 'approval/approve' && (l.approval as any)?.id === a.id && l.outcome === 'allow', 'console approve record');
    assert.equal((review.subject as any).iss, oidc.issuer);

    // Signing out needs the token too, and ends the session.
    assert.equal((await rita.fetch(`${gw.base}/console/logout`, { method: 'POST' })).status, 403);
    assert.equal((await rita.fetch(`${gw.base}/console/logout`, { method: 'POST', headers: { 'x-csrf-token': session.csrf } })).status, 204);
    assert.equal((await (await rita.fetch(`${gw.base}/console/session`)).json()).signedIn, false);
    await carol.close();
  });
});
