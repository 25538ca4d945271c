// Identity-based visibility and decisions through the real gateway: engineer vs analyst, hidden == unknown,
// policy deny reasons (-32010), needs_approval (-32011), and untrusted annotations (C18, C21).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, rawSession, rpc, textOf, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle, VETO_REASON, VETO_REGO } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { directClient, httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

const ALL_WEB = ['web__add', 'web__count_calls', 'web__delete_thing', 'web__echo', 'web__fail', 'web__get_contact', 'web__progress', 'web__slow_echo', 'web__whoami'];
const READ_ONLY_WEB = ['web__add', 'web__echo', 'web__get_contact', 'web__slow_echo', 'web__whoami'];

describe('policy decides what each identity sees and may call', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let engineerToken: string;
  let analystToken: string;
  let engineer: Client;
  let analyst: Client;
  let upstreamCalls: () => Promise<number>;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const bundle = buildExampleBundle(dir, { 'veto.rego': VETO_REGO });
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle },
        // web: the operator vouches for it (trust: trusted); local: a STDIO server nobody vouched for.
        servers: [httpServer('web', up.url, { trust: 'trusted' }), stdioServer('local', { labels: { env: 'dev' } })],
      }),
      (g) => g.stop(),
    );
    engineerToken = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    analystToken = await issuer.mint({ sub: 'bob', roles: ['analyst'] });
    engineer = scope.defer(await connectClient(gw.url, engineerToken, 'engineer'), (c) => c.close());
    analyst = scope.defer(await connectClient(gw.url, analystToken, 'analyst'), (c) => c.close());
    const direct = scope.defer(await directClient(up.url), (d) => d.close());
    upstreamCalls = () => direct.countCalls();
  });
  after(() => scope.close());

  it('engineer (identity A) sees every tool of both upstreams and can call an allowed one', async () => {
    const names = (await engineer.listTools()).tools.map((t) => t.name).sort();
    for (const n of ALL_WEB) assert.ok(names.includes(n), `engineer should see ${n}`);
    assert.ok(names.includes('local__echo') && names.includes('local__crash'), 'engineer should see the STDIO tools');
    const r = await engineer.callTool({ name: 'web__echo', arguments: { text: 'hello from A' } });
    assert.equal(textOf(r), 'hello from A');
    assert.deepEqual(r.structuredContent, { text: 'hello from A' });
  });

  it('analyst (identity B) sees only the read-only tools of the trusted upstream', async () => {
    const names = (await analyst.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, READ_ONLY_WEB);
    const r = await analyst.callTool({ name: 'web__add', arguments: { a: 2, b: 3 } });
    assert.equal(textOf(r), '5');
  });

  it("C21: analyst's call to a hidden tool is refused exactly like a call to a non-existent tool", async () => {
    const sid = await rawSession(gw.url, analystToken);
    const before = await upstreamCalls();
    const call = (name: string) =>
      rpc(gw.url, analystToken, sid, { jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name, arguments: { id: 'x1' } } }, { 'mcp-protocol-version': PROTOCOL_VERSION });
    const hidden = await call('web__delete_thing');
    const missing = await call('web__delete_thinx');
    assert.equal(hidden.status, missing.status);
    assert.equal(hidden.headers['content-type'], missing.headers['content-type']);
    assert.equal(hidden.json.error.code, -32602);
    assert.equal(hidden.text.replaceAll('web__delete_thing', '<NAME>'), missing.text.replaceAll('web__delete_thinx', '<NAME>'));
    // Via the SDK too: the same code and message shape.
    const e = await mcpError(() => analyst.callTool({ name: 'web__delete_thing', arguments: { id: 'x' } }));
    assert.equal(e.code, -32602);
    assert.match(e.message, /Unknown tool: web__delete_thing/);
    assert.equal(await upstreamCalls(), before, 'a hidden tool must never reach the upstream');
  });

  it("a call the policy vetoes is denied with -32010 carrying the policy's reason, and never reaches the upstream", async () => {
    const before = await upstreamCalls();
    const e = await mcpError(() => engineer.callTool({ name: 'web__echo', arguments: { text: 'this is forbidden' } }));
    assert.equal(e.code, -32010);
    assert.ok(e.message.includes(VETO_REASON), e.message);
    const data = e.data as { reasons: string[]; decisionId: string };
    assert.deepEqual(data.reasons, [VETO_REASON]);
    assert.match(data.decisionId, /^[0-9a-f-]{36}$/);
    assert.equal(await upstreamCalls(), before);
  });

  it('needs_approval is refused with -32011 and a reason saying approval is required; the upstream count is unchanged', async () => {
    const before = await upstreamCalls();
    const e = await mcpError(() => engineer.callTool({ name: 'web__delete_thing', arguments: { id: 'n1' } }));
    assert.equal(e.code, -32011);
    assert.match(e.message, /approval required/i);
    const data = e.data as { reasons: string[] };
    assert.deepEqual(data.reasons, ['destructive tool web__delete_thing requires approval by reviewers']);
    assert.equal(await upstreamCalls(), before, 'the destructive call must not have run');
  });

  it('C18: readOnlyHint from an untrusted upstream is not trusted: hidden from analysts, approval-gated for engineers', async () => {
    const analystNames = (await analyst.listTools()).tools.map((t) => t.name);
    assert.ok(!analystNames.some((n) => n.startsWith('local__')), `analyst must not see untrusted tools: ${analystNames}`);
    const hidden = await mcpError(() => analyst.callTool({ name: 'local__echo', arguments: { text: 'x' } }));
    assert.equal(hidden.code, -32602);
    const gated = await mcpError(() => engineer.callTool({ name: 'local__echo', arguments: { text: 'x' } }));
    assert.equal(gated.code, -32011);
    assert.match(gated.message, /destructive tool local__echo requires approval/);
  });
});
