// Hardening of held calls and tasks against the real gateway process, bundles built by the real OPA CLI, the HTTP
// fixture and a real (in-process) MCP upstream with large results:
// - an approved call is looked at again at release: a bundle swapped meanwhile to forbid it, or the requester's token
//   having expired, refuses it and nothing reaches the upstream; the audit shows both decisions;
// - MCP tasks are bounded: ttl capped, results per session, bytes per result, and 40 × 10 MB results do not stay in
//   the gateway's memory; expired tasks are forgotten even while the session's GET stream is open.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as z from 'zod/v4';
import { readAudit, type AuditLine } from '../helpers/audit.js';
import { buildBundle, regoPolicy, replaceAtomically, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { postHeaders, raw, rawSession, rpc, type RawResponse } from '../helpers/mcp.js';
import { freePort } from '../helpers/oidc.js';
import { tempDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const V = '2025-11-25';
const HELD_REASON = 'deleting needs a reviewer';

const HOLDING = regoPolicy(`
decision := {"outcome": "allow", "reasons": ["fine"]} if input.tool.name != "delete_thing"
decision := {"outcome": "needs_approval", "reasons": ["${HELD_REASON}"], "approval": {"approvers": ["reviewers"]}} if input.tool.name == "delete_thing"
`);
const FORBIDDING = regoPolicy(`
decision := {"outcome": "allow", "reasons": ["fine"]} if input.tool.name != "delete_thing"
decision := {"outcome": "deny", "reasons": ["deleting is frozen"]} if input.tool.name == "delete_thing"
`);

/** A real MCP upstream (SDK server, Streamable HTTP, stateless) whose `big` tool returns `bytes` characters of text. */
async function startBigUpstream(): Promise<{ url: string; calls(bytes: number): number; stop(): Promise<void> }> {
  const calls = new Map<number, number>();
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const mcp = new McpServer({ name: 'big-results', version: '1.0.0' });
    mcp.registerTool('big', { description: 'Returns a large text', inputSchema: { bytes: z.number().int() } }, async ({ bytes }) => {
      calls.set(bytes, (calls.get(bytes) ?? 0) + 1);
      return { content: [{ type: 'text', text: 'x'.repeat(bytes) }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void transport.close());
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/mcp`, calls: (bytes) => calls.get(bytes) ?? 0, stop: () => new Promise((r) => server.close(() => r())) };
}

async function readyRevision(gw: RunningGateway): Promise<string | undefined> {
  return ((await raw(`${gw.base}/readyz`)).json as { bundle?: { revision?: string } } | undefined)?.bundle?.revision;
}

/** VmRSS of a process, in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** nodejs heap and external memory from the gateway's own /metrics (prom-client default metrics). */
async function heapOf(port: number): Promise<{ heapUsed: number; external: number }> {
  const text = (await raw(`http://127.0.0.1:${port}/metrics`)).text;
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return { heapUsed: num('nodejs_heap_size_used_bytes'), external: num('nodejs_external_memory_bytes') };
}

const MB = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

describe('hardening: approvals re-checked at release; tasks bounded', () => {
  const scope = new Scope();
  let dir: string;
  let issuer: TokenIssuer;
  let gw: RunningGateway; // approvals with small task bounds; its bundle file is swapped by a test
  let plain: RunningGateway; // approvals and tasks with the default bounds
  let bundleFile: string;
  const bundles: Record<'holding' | 'forbidding', Buffer> = {} as never;
  let auditFile: string;
  let direct: Awaited<ReturnType<typeof directClient>>;
  let big: Awaited<ReturnType<typeof startBigUpstream>>;
  let carol: string;
  let rita: string;
  let metricsPort: number;

  before(async () => {
    const t = tempDir('portcullis-hardening-approvals-');
    dir = t.dir;
    scope.defer(null, t.cleanup);
    issuer = await createIssuer(dir);
    for (const [name, rego] of [['holding', HOLDING], ['forbidding', FORBIDDING]] as const) {
      const src = writePolicyDir(join(dir, `rego-${name}`), { 'policy.rego': rego });
      bundles[name] = readFileSync(buildBundle(src, join(dir, `${name}.tar.gz`), `rev-${name}`));
    }
    bundleFile = join(dir, 'active.tar.gz');
    replaceAtomically(bundleFile, bundles.holding);
    const plainBundle = join(dir, 'plain.tar.gz');
    replaceAtomically(plainBundle, bundles.holding);
    auditFile = join(dir, 'audit.jsonl');
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    direct = scope.defer(await directClient(up.url), (d) => d.close());
    big = scope.defer(await startBigUpstream(), (b) => b.stop());
    carol = await issuer.mint({ sub: 'carol', roles: ['engineer'] });
    rita = await issuer.mint({ sub: 'rita', groups: ['reviewers'] });
    // No clock leeway: the token-expiry case should not have to wait 30 s past exp.
    const auth = issuer.authConfig({ clockToleranceSeconds: 0 });
    const servers = [httpServer('ops', up.url), httpServer('big', big.url)];
    // Memory figures come from the gateway's own metrics, on a listener of their own (no scrape token needed there).
    metricsPort = await freePort();
    const started = await Promise.allSettled([
      startGateway(dir, {
        auth,
        policy: { bundle: bundleFile },
        servers,
        audit: { file: auditFile },
        approvals: { progressIntervalSeconds: 0.5, tasks: { maxPerSession: 3, maxResultBytes: 65_536, maxTtlMs: 120_000 } },
      }).then((g) => scope.defer(g, (x) => x.stop())),
      startGateway(dir, { auth, policy: { bundle: plainBundle }, servers, audit: { file: join(dir, 'plain-audit.jsonl') }, approvals: {}, metrics: { listen: { host: '127.0.0.1', port: metricsPort } } }, 'plain.yaml').then((g) =>
        scope.defer(g, (x) => x.stop()),
      ),
    ]);
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    [gw, plain] = started.map((r) => (r as PromiseFulfilledResult<RunningGateway>).value) as [RunningGateway, RunningGateway];
  });
  after(async () => {
    if (process.env.HARDENING_DEBUG) for (const g of [gw, plain]) if (g) console.log(g.process.stdout().slice(-20000), g.process.stderr().slice(-5000));
    await scope.close();
  });

  /** A tools/call of delete_thing on a fresh session; the request stays open while the call is held. */
  // Wrapped in an object: an async function returning a bare promise would wait for the held answer itself.
  async function heldDelete(token: string, id: string): Promise<{ answer: Promise<RawResponse> }> {
    const sid = await rawSession(gw.url, token, V);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ops__delete_thing', arguments: { id } } });
    const p = raw(gw.url, { method: 'POST', headers: postHeaders(token, sid, { 'mcp-protocol-version': V }), body, timeoutMs: 60_000 });
    p.catch(() => {});
    return { answer: p };
  }

  async function pendingFor(id: string): Promise<{ id: string }> {
    return waitFor(async () => {
      const r = await fetch(`${gw.base}/approvals?status=pending`, { headers: { authorization: `Bearer ${rita}` } });
      const j = (await r.json()) as { approvals: Array<{ id: string; arguments: { id?: string } }> };
      return j.approvals.find((a) => a.arguments.id === id) ?? null;
    }, `the approval of ${id}`, 10_000, 50);
  }

  async function approve(id: string): Promise<void> {
    const r = await fetch(`${gw.base}/approvals/${id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rita}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'ok' }),
    });
    assert.equal(r.status, 200, await r.text());
  }

  const callRecord = (approvalId: string) =>
    waitFor(() => readAudit(auditFile).find((l: AuditLine) => l.action === 'tools/call' && (l.approval as { id?: string } | undefined)?.id === approvalId) ?? null, 'the call record', 5000, 50);

  it('control: an approval under an unchanged policy releases the call, and the audit carries the release decision', async () => {
    const before = await direct.countCalls();
    const call = await heldDelete(carol, 'control');
    const a = await pendingFor('control');
    await approve(a.id);
    const res = await call.answer;
    assert.equal(res.json.result.content[0].text, 'deleted control');
    assert.equal(await direct.countCalls(), before + 1);
    const rec = await callRecord(a.id);
    assert.equal(rec.outcome, 'allow');
    const release = (rec.approval as { release: { decision_id: string; outcome: string; bundle: { revision: string } } }).release;
    assert.equal(release.outcome, 'needs_approval');
    assert.equal(release.bundle.revision, 'rev-holding');
    assert.notEqual(release.decision_id, rec.decision_id, 'the release decision has its own id');
  });

  it('a bundle swapped to forbid the tool while the call was held: refused at release (-32010), upstream untouched, audit shows both decisions', async () => {
    const before = await direct.countCalls();
    const call = await heldDelete(carol, 'frozen');
    const a = await pendingFor('frozen');
    replaceAtomically(bundleFile, bundles.forbidding);
    await waitFor(async () => ((await readyRevision(gw)) === 'rev-forbidding' ? true : null), 'the forbidding bundle to load', 10_000, 100);
    try {
      await approve(a.id);
      const res = await call.answer;
      const err = res.json.error;
      assert.equal(err.code, -32010, res.text);
      assert.match(err.message, /Denied by policy at release: deleting is frozen/);
      assert.match(err.message, /revision rev-holding.*revision rev-forbidding/);
      assert.equal(err.data.approvalId, a.id);
      assert.ok(err.data.releaseDecisionId && err.data.releaseDecisionId !== err.data.decisionId);
      assert.equal(await direct.countCalls(), before, 'the upstream never saw the call');

      const rec = await callRecord(a.id);
      assert.equal(rec.outcome, 'deny');
      assert.equal(rec.error_code, -32010);
      // The decision that held the call: the record's own id and bundle ...
      assert.equal(rec.decision_id, err.data.decisionId);
      assert.equal((rec.bundle as { revision: string }).revision, 'rev-holding');
      assert.deepEqual(rec.reasons, [HELD_REASON]);
      // ... and the decision at release, under the swapped bundle.
      const approval = rec.approval as { status: string; reviewer: { sub: string }; release: Record<string, unknown> };
      assert.equal(approval.status, 'approved');
      assert.equal(approval.reviewer.sub, 'rita');
      assert.deepEqual(approval.release, {
        decision_id: err.data.releaseDecisionId,
        bundle: { revision: 'rev-forbidding', generation: (approval.release.bundle as { generation: number }).generation },
        outcome: 'deny',
        reasons: ['deleting is frozen'],
      });
    } finally {
      replaceAtomically(bundleFile, bundles.holding);
      await waitFor(async () => ((await readyRevision(gw)) === 'rev-holding' ? true : null), 'the holding bundle back', 10_000, 100);
    }
  });

  it("the requester's token expired while the call was held: refused at release (-32011, status expired), upstream untouched", async () => {
    const short = await issuer.mint({ sub: 'carol', roles: ['engineer'] }, { expiresIn: 4 });
    const exp = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp as number;
    const before = await direct.countCalls();
    const call = await heldDelete(short, 'late');
    const a = await pendingFor('late');
    await waitFor(() => (Date.now() > exp * 1000 + 200 ? true : null), 'the token to expire', 10_000, 100);
    await approve(a.id);
    const res = await call.answer;
    const err = res.json.error;
    assert.equal(err.code, -32011, res.text);
    assert.equal(err.data.status, 'expired');
    assert.equal(err.data.expired, 'token');
    assert.equal(err.data.tokenExpiredAt, new Date(exp * 1000).toISOString());
    assert.match(err.message, /was granted, but the requester's token expired/);
    assert.equal(await direct.countCalls(), before, 'the upstream never saw the call');
    const rec = await callRecord(a.id);
    assert.equal(rec.outcome, 'approval_required');
    assert.deepEqual((rec.approval as { release: unknown }).release, { outcome: 'token_invalid' });
    assert.ok(!readFileSync(auditFile, 'utf8').includes(short), 'the token is not in the audit');
  });

  describe('tasks', () => {
    const send = (g: RunningGateway, sid: string, id: number, method: string, params: Record<string, unknown>, token = carol) =>
      rpc(g.url, token, sid, { jsonrpc: '2.0', id, method, params }, { 'mcp-protocol-version': V });
    const bigTask = (g: RunningGateway, sid: string, id: number, bytes: number, ttl = 60_000) => send(g, sid, id, 'tools/call', { name: 'big__big', arguments: { bytes }, task: { ttl } });
    const settled = (g: RunningGateway, sid: string, taskId: string) =>
      waitFor(async () => {
        const r = (await send(g, sid, 99, 'tasks/get', { taskId })).json.result;
        return r && r.status !== 'working' ? r : null;
      }, `task ${taskId} to finish`, 30_000, 50);

    it('the ttl a client asks for is capped, and the CreateTaskResult says the capped value', async () => {
      const sid = await rawSession(plain.url, carol, V);
      const asked = await bigTask(plain, sid, 1, 10, 86_400_000);
      assert.equal(asked.json.result.task.ttl, 3_600_000, 'approvals.tasks.maxTtlMs default: 1 h, not the 24 h asked');
      const sid2 = await rawSession(gw.url, carol, V);
      assert.equal((await bigTask(gw, sid2, 1, 10, 86_400_000)).json.result.task.ttl, 120_000, 'the configured cap');
      assert.equal((await bigTask(gw, sid2, 2, 10, 5_000)).json.result.task.ttl, 5_000, 'a shorter ttl is kept as asked');
    });

    it('a result over maxResultBytes is not kept: the task fails saying the call ran and its result was too large', async () => {
      const sid = await rawSession(gw.url, carol, V);
      const small = (await bigTask(gw, sid, 1, 1_001)).json.result.task;
      const huge = (await bigTask(gw, sid, 2, 100_001)).json.result.task;
      assert.equal((await settled(gw, sid, small.taskId)).status, 'completed');
      assert.equal((await send(gw, sid, 3, 'tasks/result', { taskId: small.taskId })).json.result.content[0].text.length, 1_001);
      const failed = await settled(gw, sid, huge.taskId);
      assert.equal(failed.status, 'failed');
      assert.match(failed.statusMessage, /The call ran, but its result \(100,\d{3} bytes\) is larger than a task may keep \(65,536 bytes, approvals\.tasks\.maxResultBytes\)/);
      const res = await send(gw, sid, 4, 'tasks/result', { taskId: huge.taskId });
      assert.equal(res.json.error.code, -32005);
      assert.equal(res.json.error.data.limit, 'maxResultBytes');
      assert.equal(big.calls(100_001), 1, 'the call ran upstream once');
    });

    it('one task more than maxPerSession is refused with a clear error; another session is unaffected', async () => {
      const sid = await rawSession(gw.url, carol, V);
      for (let i = 1; i <= 3; i++) assert.ok((await bigTask(gw, sid, i, 10)).json.result.task.taskId);
      const fourth = await bigTask(gw, sid, 4, 10);
      assert.equal(fourth.json.error.code, -32005, fourth.text);
      assert.equal(fourth.json.error.data.limit, 'maxPerSession');
      assert.match(fourth.json.error.message, /Too many tasks in this session: 3 are working or kept \(limit 3, approvals\.tasks\.maxPerSession\)/);
      const other = await rawSession(gw.url, carol, V);
      assert.ok((await bigTask(gw, other, 1, 10)).json.result.task.taskId);
    });

    it('a finished task is forgotten when its ttl ends, even while the session holds its GET stream open', async () => {
      const sid = await rawSession(plain.url, carol, V);
      // The GET stream: open for the whole test (the session sweeper never ends a session that has one).
      const u = new URL(plain.url);
      const stream = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'GET', headers: { ...postHeaders(carol, sid, { 'mcp-protocol-version': V }), accept: 'text/event-stream' } });
      const opened = new Promise<number>((resolve, reject) => {
        stream.on('response', (res) => resolve(res.statusCode ?? 0));
        stream.on('error', reject);
      });
      stream.end();
      try {
        assert.equal(await opened, 200);
        const task = (await bigTask(plain, sid, 1, 10, 1_000)).json.result.task;
        assert.equal((await settled(plain, sid, task.taskId)).status, 'completed');
        await waitFor(async () => ((await send(plain, sid, 2, 'tasks/get', { taskId: task.taskId })).json.error?.code === -32602 ? true : null), 'the task forgotten', 5_000, 100);
        assert.equal((await send(plain, sid, 3, 'tasks/list', {})).json.result.tasks.length, 0);
      } finally {
        stream.destroy();
      }
    });

    it('memory: 40 tasks with 10 MB results do not stay in the gateway (RSS and heap measured in the gateway process)', async () => {
      const sid = await rawSession(plain.url, carol, V);
      // Warm up the path once, then measure from a steady state.
      await settled(plain, sid, (await bigTask(plain, sid, 1, 1_000)).json.result.task.taskId);
      const rss0 = rssOf(plain.process.pid);
      const heap0 = await heapOf(metricsPort);
      const ids: string[] = [];
      let peak = rss0;
      // A few at a time, as a client would poll them; what matters is what stays once they are done.
      for (let i = 0; i < 40; i += 4) {
        const batch = await Promise.all([0, 1, 2, 3].map((k) => bigTask(plain, sid, 10 + i + k, 10 * 1024 * 1024)));
        for (const r of batch) ids.push(r.json.result.task.taskId);
        for (const r of batch) await settled(plain, sid, r.json.result.task.taskId);
        peak = Math.max(peak, rssOf(plain.process.pid));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const rss1 = rssOf(plain.process.pid);
      const heap1 = await heapOf(metricsPort);
      const statuses = await Promise.all(ids.map(async (taskId, k) => (await send(plain, sid, 200 + k, 'tasks/get', { taskId })).json.result.status));
      console.log(
        `memory after 40 × 10 MB task results: RSS ${MB(rss0)} -> ${MB(rss1)} (+${MB(rss1 - rss0)}, peak ${MB(peak)}); ` +
          `heap used ${MB(heap0.heapUsed)} -> ${MB(heap1.heapUsed)}; external ${MB(heap0.external)} -> ${MB(heap1.external)}`,
      );
      assert.ok(statuses.every((s) => s === 'failed'), `none kept past maxResultBytes (4 MiB): ${statuses.join(',')}`);
      // Keeping the results needs 400 MB live at least (main: RSS +599 MB, heap 36 -> 552 MB). What remains with the
      // bounds is garbage the gateway has not collected yet and allocator slack, which varies with GC timing
      // (measured: RSS +80..219 MB, heap + external +0..214 MB); the limits sit between the two.
      assert.ok(rss1 - rss0 < 350 * 1048576, `RSS grew by ${MB(rss1 - rss0)}`);
      const grown = heap1.heapUsed + heap1.external - heap0.heapUsed - heap0.external;
      assert.ok(grown < 350 * 1048576, `heap + external grew by ${MB(grown)}`);
    });
  });
});
