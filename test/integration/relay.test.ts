// Relays the core gateway does not originate: server-to-client requests (sampling, elicitation, roots) reaching
// the right client among several, notifications (logging, resources/updated), prompts and resources through
// policy, cancellation reaching the upstream, and the STDIO bridge. Real gateway, real SDK clients and servers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { buildAllowAllBundle, buildExampleBundle } from '../helpers/policies.js';
import { CLI, FIXTURES, ROOT, tempDir } from '../helpers/paths.js';
import { spawnManaged, stopManaged, waitFor, waitForStdout, type Managed } from '../helpers/process.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { mcpError, textOf } from '../helpers/mcp.js';
import { Scope } from '../helpers/scope.js';

/** A client that answers sampling, elicitation and roots with its own name, so misrouting shows. */
async function relayClient(url: string, token: string, name: string): Promise<{ client: Client; logs: string[]; updates: string[] }> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
  const logs: string[] = [];
  const updates: string[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: `from ${name}` } }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { answer: `${name}-answer` } }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: `file:///${name}`, name }] }));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return { client, logs, updates };
}

describe('relay through the gateway', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let issuer: TokenIssuer;
  let upstream: Managed;
  let dir: string;

  before(async () => {
    const t = scope.defer(tempDir(), (d) => d.cleanup());
    dir = t.dir;
    issuer = await createIssuer(dir);
    upstream = scope.defer(spawnManaged(process.execPath, [join(FIXTURES, 'relay-server.mjs'), '--port', '0'], { cwd: ROOT }), (p) => stopManaged(p));
    const port = Number((await waitForStdout(upstream, /^READY (\d+)$/m))[1]);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [
          { id: 'relay', url: `http://127.0.0.1:${port}/mcp`, labels: { trust: 'trusted' } },
          { id: 'other', url: `http://127.0.0.1:${port}/mcp`, labels: {} },
        ],
        audit: { file: join(dir, 'audit.jsonl') },
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('sampling, elicitation and roots from two concurrent clients on /mcp each reach their own client', async () => {
    const a = await relayClient(gw.url, await issuer.mint({ sub: 'alice', roles: ['engineer'] }), 'alice');
    const b = await relayClient(gw.url, await issuer.mint({ sub: 'bob', roles: ['engineer'] }), 'bob');
    try {
      const rounds = await Promise.all(
        Array.from({ length: 10 }, (_, i) => {
          const c = i % 2 === 0 ? a : b;
          const who = i % 2 === 0 ? 'alice' : 'bob';
          return Promise.all([
            c.client.callTool({ name: 'relay__ask_llm', arguments: { prompt: `p${i}` } }).then((r) => [textOf(r), `sampled: from ${who}`]),
            c.client.callTool({ name: 'relay__ask_user', arguments: { question: `q${i}` } }).then((r) => [textOf(r), `elicited: accept ${who}-answer`]),
            c.client.callTool({ name: 'relay__list_roots', arguments: {} }).then((r) => [textOf(r), `roots: file:///${who}`]),
          ]);
        }),
      );
      for (const [got, want] of rounds.flat()) assert.equal(got, want);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });

  it('per-server route: logging notifications reach only the session that caused them', async () => {
    const a = await relayClient(`${gw.base}/mcp/relay`, await issuer.mint({ sub: 'alice', roles: ['engineer'] }), 'alice');
    const b = await relayClient(`${gw.base}/mcp/relay`, await issuer.mint({ sub: 'bob', roles: ['engineer'] }), 'bob');
    try {
      await a.client.setLoggingLevel('debug');
      await b.client.setLoggingLevel('debug');
      assert.equal(textOf(await a.client.callTool({ name: 'log_and_echo', arguments: { text: 'A1' } })), 'A1');
      assert.equal(textOf(await b.client.callTool({ name: 'log_and_echo', arguments: { text: 'B1' } })), 'B1');
      await waitFor(() => a.logs.length > 0 && b.logs.length > 0, 'log notifications');
      assert.deepEqual(a.logs, ['log for A1']);
      assert.deepEqual(b.logs, ['log for B1']);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });

  it('resources: list, read, template read, subscribe and resources/updated on the GET stream', async () => {
    const a = await relayClient(`${gw.base}/mcp/relay`, await issuer.mint({ sub: 'alice', roles: ['engineer'] }), 'alice');
    try {
      const listed = await a.client.listResources();
      assert.deepEqual(listed.resources.map((r) => r.uri).sort(), ['test://contact', 'test://watched']);
      const read = await a.client.readResource({ uri: 'test://watched' });
      assert.equal((read.contents[0] as { text: string }).text.startsWith('version'), true);
      const item = await a.client.readResource({ uri: 'test://items/42' });
      assert.equal((item.contents[0] as { text: string }).text, 'item 42');
      await a.client.subscribeResource({ uri: 'test://watched' });
      await a.client.callTool({ name: 'touch_watched', arguments: { value: 'version 2' } });
      await waitFor(() => a.updates.includes('test://watched'), 'resources/updated');
      const again = await a.client.readResource({ uri: 'test://watched' });
      assert.equal((again.contents[0] as { text: string }).text, 'version 2');
    } finally {
      await a.client.close();
    }
  });

  it('prompts are namespaced on /mcp and original on /mcp/<id>', async () => {
    const token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    const agg = await relayClient(gw.url, token, 'alice');
    const one = await relayClient(`${gw.base}/mcp/relay`, token, 'alice');
    try {
      assert.deepEqual((await agg.client.listPrompts()).prompts.map((p) => p.name).sort(), ['other__greet', 'relay__greet']);
      assert.deepEqual((await one.client.listPrompts()).prompts.map((p) => p.name), ['greet']);
      const p = await agg.client.getPrompt({ name: 'relay__greet', arguments: { name: 'Zed' } });
      assert.match((p.messages[0]!.content as { text: string }).text, /^Hello Zed/);
      const err = await mcpError(() => agg.client.getPrompt({ name: 'nope__greet', arguments: { name: 'x' } }));
      assert.equal(err.code, -32602);
    } finally {
      await agg.client.close();
      await one.client.close();
    }
  });

  it('cancellation reaches the upstream', async () => {
    const a = await relayClient(`${gw.base}/mcp/relay`, await issuer.mint({ sub: 'alice', roles: ['engineer'] }), 'alice');
    try {
      const ac = new AbortController();
      const call = a.client.callTool({ name: 'slow', arguments: { ms: 5000, tag: 'cancel-me' } }, undefined, { signal: ac.signal });
      setTimeout(() => ac.abort('user gave up'), 300);
      await assert.rejects(call);
      await waitFor(async () => textOf(await a.client.callTool({ name: 'cancelled_tags', arguments: {} })).includes('cancel-me'), 'upstream saw the cancellation', 5000, 100);
    } finally {
      await a.client.close();
    }
  });

  it('the STDIO bridge relays lists, calls and a sampling round trip, under its token, without logging it', async () => {
    const token = await issuer.mint({ sub: 'carol', roles: ['engineer'] });
    const tokenFile = join(dir, 'bridge.token');
    writeFileSync(tokenFile, token);
    const client = new Client({ name: 'bridged', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'via bridge' } }));
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'bridge', '--url', gw.url, '--token-file', tokenFile], cwd: ROOT, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    await client.connect(transport);
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(tools.includes('relay__ask_llm'));
      assert.equal(textOf(await client.callTool({ name: 'relay__ask_llm', arguments: { prompt: 'x' } })), 'sampled: via bridge');
    } finally {
      await client.close();
    }
    assert.ok(!stderr.includes(token), 'the bridge must never log its token');
    assert.ok(!gw.process.stderr().includes(token));
  });

  it('a bridge with a token the gateway refuses gets 401s, not a hang', async () => {
    const tokenFile = join(dir, 'bad.token');
    writeFileSync(tokenFile, 'not-a-jwt');
    const client = new Client({ name: 'bridged', version: '1.0.0' });
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'bridge', '--url', gw.url, '--token-file', tokenFile], cwd: ROOT, stderr: 'pipe' });
    await assert.rejects(client.connect(transport));
    await client.close().catch(() => undefined);
  });
});

describe('prompts and resources under the example policy', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let issuer: TokenIssuer;

  before(async () => {
    const t = scope.defer(tempDir(), (d) => d.cleanup());
    issuer = await createIssuer(t.dir);
    const up = scope.defer(spawnManaged(process.execPath, [join(FIXTURES, 'relay-server.mjs'), '--port', '0'], { cwd: ROOT }), (p) => stopManaged(p));
    const port = Number((await waitForStdout(up, /^READY (\d+)$/m))[1]);
    gw = scope.defer(
      await startGateway(t.dir, {
        auth: issuer.authConfig(),
        policy: { bundle: buildExampleBundle(t.dir) },
        servers: [
          { id: 'trusted', url: `http://127.0.0.1:${port}/mcp`, labels: { trust: 'trusted' } },
          { id: 'plain', url: `http://127.0.0.1:${port}/mcp`, labels: {} },
        ],
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('results of prompts and resources are masked; analysts read resources only on trusted servers', async () => {
    const analyst = await relayClient(gw.url, await issuer.mint({ sub: 'ann', roles: ['analyst'] }), 'ann');
    try {
      const res = await analyst.client.listResources();
      const uris = res.resources.map((r) => r.uri).sort();
      assert.deepEqual(uris, ['test://contact', 'test://watched']);
      const read = await analyst.client.readResource({ uri: 'test://contact' });
      assert.equal((read.contents[0] as { text: string }).text, 'mail [redacted:email]');
      const prompt = await analyst.client.getPrompt({ name: 'trusted__greet', arguments: { name: 'Q' } });
      assert.doesNotMatch((prompt.messages[0]!.content as { text: string }).text, /eve@example\.com/);
    } finally {
      await analyst.client.close();
    }
  });

  it('a subject with no role sees no prompts or resources and cannot read one', async () => {
    const nobody = await relayClient(`${gw.base}/mcp/plain`, await issuer.mint({ sub: 'nobody', roles: [] }), 'nobody');
    try {
      assert.deepEqual((await nobody.client.listResources()).resources, []);
      assert.deepEqual((await nobody.client.listPrompts()).prompts, []);
      const err = await mcpError(() => nobody.client.readResource({ uri: 'test://contact' }));
      assert.equal(err.code, -32002);
    } finally {
      await nobody.client.close();
    }
  });
});
