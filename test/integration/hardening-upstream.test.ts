// Hostile upstreams, seen from the client: nothing of an injected credential comes back through any channel, a
// stuck or huge answer costs the gateway a bounded amount and only that call, redirects are refused, and on a
// shared STDIO upstream a server-initiated request reaches only a client that caused it and declared it can answer.
// Real gateway, real OpenBao dev server (KV v2), real fixture upstreams, real SDK clients.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, rawSession, rpc, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { FIXTURES, ROOT, tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { freePort } from '../helpers/postgres.js';
import { spawnManaged, stopManaged, waitFor, waitForStdout, type Managed } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';

const HOSTILE = join(FIXTURES, 'hostile-upstream.mjs');
const SHARED_STDIO = join(FIXTURES, 'shared-stdio.mjs');
const BAO = join(ROOT, '.tools', 'bin', 'bao');
const SECRET = 'hostile-Kv-S3cret-9XYZ';
const FORMS = [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('hex'), Buffer.from(SECRET).toString('hex').toUpperCase()];

async function startHostile(): Promise<{ url: string; base: string; proc: Managed; stats(): Promise<{ open: number; maxOpen: number; calls: number; hung: number }> }> {
  const proc = spawnManaged(process.execPath, [HOSTILE, '--port', '0'], { cwd: ROOT });
  const m = await waitForStdout(proc, /^READY (\d+)$/m, 15_000);
  const base = `http://127.0.0.1:${m[1]}`;
  return { url: `${base}/mcp`, base, proc, stats: async () => (await fetch(`${base}/stats`)).json() as never };
}

/** A development OpenBao (in memory, KV v2 at secret/) with one secret for the gateway to inject. */
async function startBao(): Promise<{ addr: string; token: string; proc: Managed }> {
  const port = await freePort();
  const token = `root-${Math.random().toString(36).slice(2)}`;
  const proc = spawnManaged(BAO, ['server', '-dev', `-dev-root-token-id=${token}`, `-dev-listen-address=127.0.0.1:${port}`], { cwd: ROOT });
  const addr = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${addr}/v1/sys/health`).catch(() => null))?.ok || null, 'openbao health', 20_000, 100);
  const w = await fetch(`${addr}/v1/secret/data/hostile`, { method: 'POST', headers: { 'X-Vault-Token': token }, body: JSON.stringify({ data: { token: SECRET } }) });
  assert.equal(w.status, 200, await w.text());
  return { addr, token, proc };
}

function noSecretIn(what: string, text: string): void {
  for (const f of FORMS) assert.ok(!text.includes(f), `${what} carries the credential (${f.slice(0, 12)}…): ${text.slice(0, 400)}`);
}

describe('hostile HTTP upstreams', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let hostile: Awaited<ReturnType<typeof startHostile>>;
  let auditFile: string;
  let client: Client;
  const seen: string[] = [];

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-it-hostile-');
    scope.defer(null, cleanup);
    auditFile = join(dir, 'audit.jsonl');
    const bao = scope.defer(await startBao(), (b) => stopManaged(b.proc));
    hostile = scope.defer(await startHostile(), (h) => stopManaged(h.proc));
    process.env.H1_TEST_VAULT_TOKEN = bao.token;
    gw = scope.defer(
      await startGateway(dir, {
        auth: { mode: 'none' },
        log: { level: 'debug' },
        policy: { bundle: buildAllowAllBundle(dir) },
        audit: { file: auditFile },
        vault: { address: bao.addr, auth: { method: 'token', tokenEnv: 'H1_TEST_VAULT_TOKEN' } },
        credentials: {
          key: { source: 'kv-v2', path: 'secret/data/hostile', headers: { Authorization: 'Bearer {{ .token }}' } },
          envkey: { source: 'kv-v2', path: 'secret/data/hostile', env: { API_TOKEN: '{{ .token }}' } },
        },
        servers: [
          { id: 'evil', url: hostile.url, labels: {}, credentials: { default: 'key' } },
          { id: 'local', command: process.execPath, args: [SHARED_STDIO], labels: {}, credentials: { default: 'envkey' } },
        ],
      }),
      (g) => g.stop(),
    );
    client = new Client({ name: 'it-hostile', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      seen.push(JSON.stringify(req.params));
      return { action: 'decline' };
    });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.push(JSON.stringify(n.params)));
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
    scope.defer(client, (c) => c.close());
  });
  after(() => scope.close());

  it('an injected credential echoed in a JSON-RPC error (message, data, keys) is scrubbed', async () => {
    const err = await mcpError(() => client.callTool({ name: 'evil__leak_error', arguments: {} }));
    const text = JSON.stringify({ message: err.message, data: err.data });
    noSecretIn('the error', text);
    assert.match(err.message, /refused the header Bearer \[redacted:credential\]/);
  });

  it('an injected credential quoted from an HTTP error body is scrubbed', async () => {
    const err = await mcpError(() => client.callTool({ name: 'evil__leak_http_error', arguments: {} }));
    noSecretIn('the error', JSON.stringify({ message: err.message, data: err.data }));
    assert.equal(err.code, -32014);
    assert.match(err.message, /HTTP 500: internal error handling Bearer \[redacted:credential\]/);
  });

  it('log messages, progress and a relayed elicitation during the call are scrubbed, and the result in keys and hex', async () => {
    const progress: string[] = [];
    const r = await client.callTool({ name: 'evil__leak_stream', arguments: {} }, undefined, { onprogress: (p) => void progress.push(JSON.stringify(p)) });
    await waitFor(() => seen.length >= 2 || null, 'log message and elicitation reach the client');
    assert.equal(progress.length, 1);
    noSecretIn('the result', JSON.stringify(r));
    noSecretIn('progress', progress.join('\n'));
    noSecretIn('a relayed message', seen.join('\n'));
    assert.ok(seen.some((s) => s.includes('confirm Bearer [redacted:credential]')), seen.join('\n'));
    assert.ok(seen.some((s) => s.includes('log Bearer [redacted:credential]')), seen.join('\n'));
    assert.deepEqual(Object.keys(r.structuredContent as object), ['Bearer [redacted:credential]', 'HEX']);
  });

  it('a credential echoed outside tools/call is scrubbed too: an HTTP upstream remembering it, a STDIO child with it in its env', async () => {
    const remembered = await client.getPrompt({ name: 'evil__remember' });
    noSecretIn('a later prompt', JSON.stringify(remembered));
    assert.match(JSON.stringify(remembered), /remember Bearer \[redacted:credential\]/);
    const prompt = await client.getPrompt({ name: 'local__leak' });
    noSecretIn('a STDIO prompt', JSON.stringify(prompt));
    assert.match(JSON.stringify(prompt), /token \[redacted:credential\]/);
    const resource = await client.readResource({ uri: 'env://token' });
    noSecretIn('a STDIO resource', JSON.stringify(resource));
  });

  it("a STDIO child's stderr is logged (debug) without the credential in its environment, even split across writes", async () => {
    await client.callTool({ name: 'local__print_token', arguments: {} });
    const stderrLines = () =>
      gw.process
        .stderr()
        .split('\n')
        .filter((l) => l.includes('stdio upstream stderr'));
    await waitFor(() => stderrLines().some((l) => l.includes('token again')) || null, 'the stderr line in the log');
    noSecretIn('the logged stderr', stderrLines().join('\n'));
    assert.ok(stderrLines().some((l) => l.includes('API_TOKEN=[redacted:credential]')), stderrLines().join('\n'));
    assert.ok(stderrLines().some((l) => l.includes('token again [redacted:credential] done')), stderrLines().join('\n'));
  });

  it('nothing of the credential is in the gateway log (debug) or the audit trail', async () => {
    await waitFor(() => (existsSync(auditFile) && readFileSync(auditFile, 'utf8').includes('leak_stream')) || null, 'audit records');
    noSecretIn('the gateway log', gw.process.stderr());
    noSecretIn('the audit trail', readFileSync(auditFile, 'utf8'));
  });
});

describe('stuck, huge and redirecting upstream answers', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let quick: Awaited<ReturnType<typeof startHostile>>;
  let patient: Awaited<ReturnType<typeof startHostile>>;
  let client: Client;

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-it-stuck-');
    scope.defer(null, cleanup);
    quick = scope.defer(await startHostile(), (h) => stopManaged(h.proc));
    patient = scope.defer(await startHostile(), (h) => stopManaged(h.proc));
    gw = scope.defer(
      await startGateway(dir, {
        auth: { mode: 'none' },
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [
          { id: 'quick', url: quick.url, labels: {}, timeoutMs: 500 },
          { id: 'patient', url: patient.url, labels: {}, timeoutMs: 60_000 },
          { id: 'local', command: process.execPath, args: [SHARED_STDIO], labels: {} },
        ],
      }),
      (g) => g.stop(),
    );
    client = scope.defer(await connectClient(gw.url, null), (c) => c.close());
  });
  after(() => scope.close());

  it('a 307 redirect is refused at once, not followed and not waited on until the timeout', async () => {
    for (const empty of [false, true]) {
      const t0 = Date.now();
      const err = await mcpError(() => client.callTool({ name: 'patient__redirect', arguments: { empty } }));
      assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
      assert.equal(err.code, -32014);
      assert.match(err.message, /Upstream 'patient' unavailable: answered HTTP 307 redirect; redirects are not followed/);
    }
  });

  it('a body that is not JSON is a clear upstream error, and the upstream still serves the next call', async () => {
    const err = await mcpError(() => client.callTool({ name: 'patient__garbage', arguments: {} }));
    assert.equal(err.code, -32014);
    assert.match(err.message, /Upstream 'patient' unavailable: answered HTTP 200 with a body that is not JSON/);
    const r = await client.callTool({ name: 'patient__echo', arguments: { text: 'still here' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'still here' }]);
  });

  it('a malformed list from one upstream is its own problem: the aggregate list still answers', async () => {
    const r = await client.listPrompts();
    assert.deepEqual(r.prompts.map((p) => p.name), ['local__leak']);
  });

  it('timed-out calls on a stream that never ends free their connections: 130 of them, then the upstream still answers', async () => {
    const sid = await rawSession(gw.url, null);
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 130 }, (_, i) =>
        rpc(gw.url, null, sid, { jsonrpc: '2.0', id: 1000 + i, method: 'tools/call', params: { name: 'quick__endless', arguments: {} } }, { 'mcp-protocol-version': PROTOCOL_VERSION }),
      ),
    );
    const stuckMs = Date.now() - t0;
    assert.ok(answers.every((a) => a.json?.error?.code === -32015), JSON.stringify(answers.find((a) => a.json?.error?.code !== -32015)?.json));
    // The cancellations the gateway sends are never answered by this upstream: they must not hold connections either.
    await waitFor(async () => {
      const st = await quick.stats();
      return st.open === 0 && st.hung === 0 ? true : null;
    }, 'every endless stream and unanswered cancellation closed by the gateway', 5000, 50);
    const t1 = Date.now();
    const r = await client.callTool({ name: 'quick__echo', arguments: { text: 'after the flood' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'after the flood' }]);
    console.log(`# 130 stuck calls answered in ${stuckMs} ms; max open upstream streams ${(await quick.stats()).maxOpen}; next call ${Date.now() - t1} ms`);
  });

  it('a call the client cancels, or abandons by disconnecting, frees its upstream connection at once', async () => {
    const ac = new AbortController();
    const call = client.callTool({ name: 'patient__endless', arguments: {} }, undefined, { signal: ac.signal }).catch((e: unknown) => e);
    await waitFor(async () => ((await patient.stats()).open === 1 ? true : null), 'the endless stream open', 5000, 20);
    ac.abort();
    await call;
    await waitFor(async () => ((await patient.stats()).open === 0 ? true : null), 'the stream closed after cancel', 3000, 20);

    const sid = await rawSession(gw.url, null);
    const { request } = await import('node:http');
    const u = new URL(gw.url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION } });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'patient__endless', arguments: {} } }));
    await waitFor(async () => ((await patient.stats()).open === 1 ? true : null), 'the endless stream open again', 5000, 20);
    req.destroy();
    await waitFor(async () => ((await patient.stats()).open === 0 ? true : null), 'the stream closed after the client left', 3000, 20);
  });

  it('an answer over the default 16 MiB limit is dropped while reading, as JSON and as SSE, naming upstream and limit', async () => {
    for (const sse of [false, true]) {
      const err = await mcpError(() => client.callTool({ name: 'patient__big', arguments: { mb: 40, sse } }));
      assert.equal(err.code, -32014);
      assert.match(err.message, /Upstream 'patient' unavailable: answer larger than 16777216 bytes \(maxResponseBytes\)/);
    }
    const r = await client.callTool({ name: 'patient__big', arguments: { mb: 1 } });
    assert.equal(((r.content as Array<{ text: string }>)[0]!.text).length, 1024 * 1024);
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.process.pid}/status`, 'utf8'))?.[1]) / 1024;
    console.log(`# gateway peak RSS after 40 MiB answers: ${hwm.toFixed(0)} MiB`);
  });

  it('a STDIO child writing one endless line is stopped at the limit and restarted; the call fails naming it', async () => {
    const err = await mcpError(() => client.callTool({ name: 'local__huge_line', arguments: { mb: 40 } }));
    assert.equal(err.code, -32014);
    assert.match(err.message, /Upstream 'local' unavailable: sent a message larger than 16777216 bytes \(maxResponseBytes\)/);
    const r = await waitFor(
      () => client.callTool({ name: 'local__slow', arguments: { ms: 1 } }).catch(() => null),
      'the restarted child answers',
      10_000,
      200,
    );
    assert.deepEqual(r.content, [{ type: 'text', text: 'slept' }]);
  });
});

describe('per-server connection and size bounds', () => {
  const scope = new Scope();
  let up: Awaited<ReturnType<typeof startHostile>>;
  let client: Client;

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-it-bounds-');
    scope.defer(null, cleanup);
    up = scope.defer(await startHostile(), (h) => stopManaged(h.proc));
    const gw = scope.defer(
      await startGateway(dir, {
        auth: { mode: 'none' },
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [{ id: 'tight', url: up.url, labels: {}, timeoutMs: 4000, maxConnections: 2, maxResponseBytes: 1024 * 1024 }],
      }),
      (g) => g.stop(),
    );
    client = scope.defer(await connectClient(gw.url, null), (c) => c.close());
  });
  after(() => scope.close());

  it('servers[].maxConnections bounds the connections to the upstream', async () => {
    const calls = Array.from({ length: 5 }, () => client.callTool({ name: 'tight__endless', arguments: {} }).catch((e: unknown) => e));
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await up.stats()).open, 2);
    await Promise.all(calls);
    assert.equal((await up.stats()).maxOpen, 2);
  });

  it('servers[].maxResponseBytes sets the limit', async () => {
    // The endless streams of the test before hold both connections until they are closed: wait for a free one.
    await waitFor(async () => (await up.stats()).open === 0, 'the endless streams to be closed', 15_000, 100);
    const err = await mcpError(() => client.callTool({ name: 'tight__big', arguments: { mb: 2 } }));
    assert.match(err.message, /Upstream 'tight' unavailable: answer larger than 1048576 bytes \(maxResponseBytes\)/);
  });
});

describe('server-initiated requests on a shared STDIO upstream', () => {
  const scope = new Scope();
  let url: string;
  /** What each client was asked by the gateway. */
  const asked: Record<string, string[]> = { alice: [], bob: [], carol: [] };
  const clients: Record<string, Client> = {};

  async function connect(name: string, capabilities: Record<string, unknown>): Promise<Client> {
    const c = new Client({ name, version: '1.0.0' }, { capabilities });
    if (capabilities.sampling) {
      c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        asked[name]!.push(`sampling ${JSON.stringify(req.params._meta ?? {})}`);
        return { role: 'assistant', content: { type: 'text', text: `from ${name}` }, model: 'test' };
      });
    }
    // Whatever else reaches this client is recorded too (an SDK client would otherwise just say "method not found").
    c.fallbackRequestHandler = async (req) => {
      asked[name]!.push(req.method);
      return {} as never;
    };
    await c.connect(new StreamableHTTPClientTransport(new URL(url)));
    return scope.defer(c, (x) => x.close());
  }
  const text = (r: unknown) => (r as { content: Array<{ text: string }> }).content[0]!.text;
  const upstreamLog = async () => JSON.parse(text(await clients.alice!.callTool({ name: 'local__asked', arguments: {} }))) as Array<{ method: string; ok: boolean; error?: string; result?: unknown }>;

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-it-shared-');
    scope.defer(null, cleanup);
    const gw = scope.defer(
      await startGateway(dir, {
        auth: { mode: 'none' },
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [{ id: 'local', command: process.execPath, args: [SHARED_STDIO], labels: {} }],
      }),
      (g) => g.stop(),
    );
    url = gw.url;
    clients.alice = await connect('alice', { sampling: {} });
    clients.bob = await connect('bob', { sampling: {} });
    clients.carol = await connect('carol', {});
  });
  after(() => scope.close());

  it('a request tied to a call by its progress token reaches that call, while another client waits too', async () => {
    const slow = clients.alice!.callTool({ name: 'local__slow', arguments: { ms: 1500 } });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const r = await clients.bob!.callTool({ name: 'local__ask_now', arguments: { method: 'sampling/createMessage', tied: true } }, undefined, { onprogress: () => undefined });
      assert.match(text(r), /answered .*from bob/);
    } finally {
      await slow;
    }
    assert.deepEqual(asked.alice, [], 'alice was asked what bob caused');
    // Bob sees his own progress token, not the gateway's.
    assert.match(asked.bob!.at(-1)!, /"progressToken":\d+/);
  });

  it('a client that did not declare a capability is never asked; the upstream is refused with a clear error', async () => {
    for (const [method, cap] of [['sampling/createMessage', 'sampling'], ['elicitation/create', 'elicitation'], ['roots/list', 'roots']] as const) {
      const r = await clients.carol!.callTool({ name: 'local__ask_now', arguments: { method } });
      assert.match(text(r), new RegExp(`refused .*did not declare the ${cap} capability`));
    }
    assert.deepEqual(asked.carol, []);
  });

  it('a sole caller that declared sampling is asked and answers', async () => {
    const r = await clients.alice!.callTool({ name: 'local__ask_now', arguments: { method: 'sampling/createMessage' } });
    assert.match(text(r), /answered .*from alice/);
  });
  // Last: the abandoned call keeps unattributed requests from everyone for a while (ABANDONED_HORIZON_MS).
  it("a request caused by bob's abandoned call is not handed to alice, the only one still waiting", async () => {
    const aliceAsked = asked.alice!.length;
    const ac = new AbortController();
    const bobCall = clients.bob!.callTool({ name: 'local__ask_later', arguments: { delayMs: 1500, method: 'sampling/createMessage' } }, undefined, { signal: ac.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await bobCall;
    const before = (await upstreamLog()).length;
    const r = await clients.alice!.callTool({ name: 'local__slow', arguments: { ms: 2500 } });
    assert.equal(text(r), 'slept');
    assert.deepEqual(asked.alice!.slice(aliceAsked), [], 'alice was asked what bob caused');
    const log = (await upstreamLog()).slice(before);
    assert.equal(log.length, 1);
    assert.equal(log[0]!.ok, false);
    assert.match(log[0]!.error!, /No client to answer sampling\/createMessage/);
  });

});
