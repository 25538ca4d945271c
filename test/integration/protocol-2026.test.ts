// MCP 2026-07-28 (stateless) and 2025 (sessions) clients on the same endpoints of one gateway at the same time:
// the SDK v2 client pinned to 2026-07-28, the SDK v1 client on 2025, and raw requests for the header/body
// binding, version errors and cache hints.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { auditLines, parseAuditLine } from '../helpers/audit.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, raw, textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle, buildExampleBundle } from '../helpers/policies.js';
import { replaceAtomically } from '../helpers/bundles.js';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Scope } from '../helpers/scope.js';
import { waitFor } from '../helpers/process.js';
import { createIssuer } from '../helpers/tokens.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const MODERN = '2026-07-28';

function modernHeaders(token: string, method: string, name?: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
    ...extra,
  };
  if (name !== undefined) h['mcp-name'] = name;
  return h;
}

function modernBody(id: number, method: string, params: Record<string, unknown> = {}): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } } },
  });
}

describe('MCP 2026-07-28 beside 2025 on one endpoint', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let token: string;
  let auditFile: string;
  let upstreamCalls: () => Promise<number>;
  let bundlePath: string;
  let dir: string;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const direct = scope.defer(await directClient(up.url), (d) => d.close());
    upstreamCalls = direct.countCalls;
    const issuer = await createIssuer(dir);
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    auditFile = join(dir, 'audit.jsonl');
    bundlePath = join(dir, 'active.tar.gz');
    replaceAtomically(bundlePath, readFileSync(buildExampleBundle(dir)));
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: bundlePath, listCacheSeconds: 30, pollIntervalMs: 200 },
        servers: [httpServer('web', up.url, { trust: 'trusted' })],
        audit: { file: auditFile },
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('serves the SDK v2 client pinned to 2026-07-28 and the SDK v1 client on 2025 at the same time', async () => {
    const modern = new ClientV2({ name: 'v2-client', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    await modern.connect(new TransportV2(new URL(gw.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    const legacy = await connectClient(gw.url, token);
    try {
      const [m, l] = await Promise.all([modern.listTools(), legacy.listTools()]);
      assert.deepEqual(m.tools.map((t) => t.name).sort(), l.tools.map((t) => t.name).sort());
      assert.ok(m.tools.some((t) => t.name === 'web__echo'));
      const [a, b] = await Promise.all([
        modern.callTool({ name: 'web__echo', arguments: { text: 'from 2026' } }),
        legacy.callTool({ name: 'web__echo', arguments: { text: 'from 2025' } }),
      ]);
      assert.match(textOf(a), /from 2026/);
      assert.match(textOf(b), /from 2025/);
    } finally {
      await Promise.all([modern.close(), legacy.close()]);
    }
    // Audit records are written in batches: wait for this one.
    const modernRec = await waitFor(
      () => auditLines(auditFile).map(parseAuditLine).find((r) => r.action === 'tools/call' && JSON.stringify(r.arguments).includes('from 2026')),
      'the audit record of the 2026 call',
      10_000,
      50,
    );
    assert.equal(modernRec?.protocol_version, MODERN);
    assert.equal(modernRec?.session ?? null, null, 'a stateless call has no session');
  });

  it('answers server/discover on /mcp and /mcp/<id> with versions, capabilities, identity and cache hints', async () => {
    for (const path of ['/mcp', '/mcp/web']) {
      const r = await raw(`${gw.base}${path}`, { method: 'POST', headers: modernHeaders(token, 'server/discover'), body: modernBody(1, 'server/discover') });
      assert.equal(r.status, 200, r.text);
      const res = r.json.result;
      assert.ok(res.supportedVersions.includes(MODERN) && res.supportedVersions.includes('2025-11-25'));
      assert.ok(res.capabilities.tools);
      assert.equal(res.resultType, 'complete');
      assert.equal(res.cacheScope, 'public');
      assert.ok(res.ttlMs >= 0);
      assert.equal(r.headers['mcp-session-id'], undefined, 'no session is minted');
    }
  });

  it('marks per-identity lists private with a TTL no longer than the policy cache', async () => {
    const r = await raw(gw.url, { method: 'POST', headers: modernHeaders(token, 'tools/list'), body: modernBody(2, 'tools/list') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.result.resultType, 'complete');
    assert.equal(r.json.result.cacheScope, 'private');
    assert.ok(r.json.result.ttlMs >= 0 && r.json.result.ttlMs <= 30_000);
    assert.equal(r.json.result._meta['io.modelcontextprotocol/serverInfo'].name, 'portcullis');
  });

  it('refuses a header that disagrees with the body (400, -32020) before anything runs upstream', async () => {
    const before = await upstreamCalls();
    const cases: Array<[Record<string, string>, string]> = [
      [modernHeaders(token, 'tools/call', 'web__echo'), modernBody(3, 'tools/call', { name: 'web__delete_thing', arguments: { id: 'x' } })],
      [modernHeaders(token, 'tools/list', undefined), modernBody(4, 'tools/call', { name: 'web__echo', arguments: { text: 'x' } })],
      [modernHeaders(token, 'tools/call'), modernBody(5, 'tools/call', { name: 'web__echo', arguments: { text: 'x' } })],
    ];
    for (const [headers, body] of cases) {
      const r = await raw(gw.url, { method: 'POST', headers, body });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, -32020, r.text);
    }
    assert.equal(await upstreamCalls(), before);
    // The Base64 sentinel is decoded before comparing.
    const encoded = `=?base64?${Buffer.from('web__echo').toString('base64')}?=`;
    const ok = await raw(gw.url, { method: 'POST', headers: modernHeaders(token, 'tools/call', encoded), body: modernBody(6, 'tools/call', { name: 'web__echo', arguments: { text: 'sentinel' } }) });
    assert.equal(ok.status, 200, ok.text);
    assert.match(JSON.stringify(ok.json.result), /sentinel/);
  });

  it('answers an unsupported modern version 400 with -32022 and the supported list; removed methods 404; GET 405', async () => {
    const r = await raw(gw.url, { method: 'POST', headers: modernHeaders(token, 'tools/list', undefined, { 'mcp-protocol-version': '2027-01-01' }), body: modernBody(7, 'tools/list') });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, -32022);
    assert.ok(r.json.error.data.supported.includes(MODERN));
    const ping = await raw(gw.url, { method: 'POST', headers: modernHeaders(token, 'ping'), body: modernBody(8, 'ping') });
    assert.equal(ping.status, 404);
    assert.equal(ping.json.error.code, -32601);
    const get = await raw(gw.url, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-protocol-version': MODERN } });
    assert.equal(get.status, 405);
  });

  it('authenticates every stateless request on its own (no token, no answer)', async () => {
    const r = await raw(gw.url, { method: 'POST', headers: { ...modernHeaders(token, 'tools/list'), authorization: '' }, body: modernBody(9, 'tools/list') });
    assert.equal(r.status, 401);
  });

  it('subscriptions/listen: acknowledged first, then only the changes asked for, each tagged with the subscription id', async () => {
    const frames: Array<Record<string, any>> = [];
    const req = httpRequest(gw.url, { method: 'POST', headers: modernHeaders(token, 'subscriptions/listen') });
    const opened = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString('utf8');
          for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n')) {
            const data = buf.slice(0, i).split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
            buf = buf.slice(i + 2);
            if (data) frames.push(JSON.parse(data));
          }
          if (frames.length > 0) resolve();
        });
      });
      req.on('error', reject);
    });
    req.end(modernBody(77, 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
    try {
      await opened;
      assert.equal(frames[0]!.method, 'notifications/subscriptions/acknowledged');
      assert.equal(frames[0]!.params._meta['io.modelcontextprotocol/subscriptionId'], 77);
      assert.deepEqual(frames[0]!.params.notifications, { toolsListChanged: true });
      // A new bundle changes what everyone may see: tools changed, and prompts too, which this stream did not ask for.
      replaceAtomically(bundlePath, readFileSync(buildAllowAllBundle(dir)));
      const deadline = Date.now() + 10_000;
      while (!frames.some((f) => f.method === 'notifications/tools/list_changed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const changed = frames.find((f) => f.method === 'notifications/tools/list_changed');
      assert.ok(changed, JSON.stringify(frames));
      assert.equal(changed.params._meta['io.modelcontextprotocol/subscriptionId'], 77);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!frames.some((f) => f.method === 'notifications/prompts/list_changed'), 'no notification the filter did not ask for');
    } finally {
      req.destroy();
    }
  });
});
