// The relay against a third-party server: the reference "everything" server of the MCP project
// (@modelcontextprotocol/server-everything, Streamable HTTP), with the example role-based policy (not allow-all).
// Each case failed through the gateway before the request-core rework while it works against the server directly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/oidc.js';
import { ROOT, tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle, buildExampleBundle } from '../helpers/policies.js';
import { replaceAtomically } from '../helpers/bundles.js';
import { spawnManaged, stopManaged, waitFor, waitForStdout } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

async function client(url: string, token: string, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const c = new Client({ name: 'it-everything', version: '1.0.0' }, { capabilities });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return c;
}

describe('relay: server-everything through the gateway', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let token: string;
  let everythingUrl: string;
  let bundlePath: string;
  let dir: string;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    const port = await freePort();
    const proc = spawnManaged(process.execPath, [EVERYTHING, 'streamableHttp'], { cwd: ROOT, env: { ...process.env, PORT: String(port) } });
    scope.defer(proc, (p) => stopManaged(p));
    await waitForStdout(proc, /listening on port/i, 20_000).catch(async () => {
      // It logs on stderr; fall back to polling the port.
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'GET' }).catch(() => null)) !== null, 'server-everything', 20_000, 200);
    });
    everythingUrl = `http://127.0.0.1:${port}/mcp`;
    // A second server that offers resources too: a URI from a template must still find its server on /mcp.
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    bundlePath = join(dir, 'active.tar.gz');
    replaceAtomically(bundlePath, readFileSync(buildExampleBundle(dir)));
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: bundlePath, pollIntervalMs: 200 },
        servers: [httpServer('everything', everythingUrl), httpServer('web', up.url, { trust: 'trusted' })],
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('lists the tools an upstream offers only to clients with sampling/elicitation, to such clients alone', async () => {
    const plain = await client(`${gw.base}/mcp/everything`, token);
    const able = await client(`${gw.base}/mcp/everything`, token, { sampling: {}, elicitation: {} });
    const direct = new Client({ name: 'direct', version: '1' }, { capabilities: { sampling: {}, elicitation: {} } });
    await direct.connect(new StreamableHTTPClientTransport(new URL(everythingUrl)));
    try {
      const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name);
      const directNames = await names(direct);
      assert.ok(directNames.includes('trigger-sampling-request'), 'the server offers it to a sampling client');
      assert.ok(!(await names(plain)).includes('trigger-sampling-request'));
      assert.ok((await names(able)).includes('trigger-sampling-request'));
      assert.ok((await names(able)).includes('trigger-elicitation-request'));
      // On the aggregate endpoint too, under its namespaced name.
      const agg = await client(gw.url, token, { sampling: {} });
      assert.ok((await names(agg)).includes('everything__trigger-sampling-request'));
      await agg.close();
    } finally {
      await Promise.all([plain.close(), able.close(), direct.close()]);
    }
  });

  it('relays the sampling request of a capability-dependent tool to the client that called it', async () => {
    const c = await client(`${gw.base}/mcp/everything`, token, { sampling: {} });
    c.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled-by-the-client' } }));
    try {
      const r = await c.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 5 } });
      assert.match(JSON.stringify(r.content), /sampled-by-the-client/);
    } finally {
      await c.close();
    }
  });

  it('reads a resource URI expanded from an upstream template on /mcp, with a role-based policy, without listing first', async () => {
    const c = await client(gw.url, token);
    try {
      const r = await c.readResource({ uri: 'demo://resource/dynamic/text/7' });
      assert.equal(r.contents[0]?.uri, 'demo://resource/dynamic/text/7');
      assert.match(JSON.stringify(r.contents), /text/);
    } finally {
      await c.close();
    }
  });

  it('tells a listening client tools/list_changed when a new bundle changes what it may see', async () => {
    const c = await client(gw.url, token);
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    try {
      await c.listTools();
      // Give the SDK client's GET stream a moment to open.
      await new Promise((r) => setTimeout(r, 500));
      replaceAtomically(bundlePath, readFileSync(buildAllowAllBundle(dir)));
      await waitFor(() => changed > 0, 'notifications/tools/list_changed', 10_000, 50);
    } finally {
      await c.close();
    }
  });
});
