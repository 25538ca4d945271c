// The aggregate endpoint /mcp (tools named <serverId>__<tool>) and the transparent per-server endpoints
// /mcp/<serverId> (original names); tools never cross from one server's endpoint to another's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, raw, rawSession, rpc, textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

const SHARED = ['add', 'count_calls', 'delete_thing', 'echo', 'fail', 'get_contact', 'progress', 'slow_echo', 'whoami'];

describe('endpoints and namespacing', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let aggregate: Client;
  let web: Client;
  let local: Client;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    gw = scope.defer(
      await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle: buildAllowAllBundle(dir) }, servers: [httpServer('web', up.url), stdioServer('local')] }),
      (g) => g.stop(),
    );
    aggregate = scope.defer(await connectClient(gw.url, null, 'aggregate'), (c) => c.close());
    web = scope.defer(await connectClient(`${gw.url}/web`, null, 'web'), (c) => c.close());
    local = scope.defer(await connectClient(`${gw.url}/local`, null, 'local'), (c) => c.close());
  });
  after(() => scope.close());

  it('/mcp lists every tool of every server as <serverId>__<tool> and routes calls by the prefix', async () => {
    const names = (await aggregate.listTools()).tools.map((t) => t.name).sort();
    const expected = [...SHARED.map((n) => `web__${n}`), ...[...SHARED, 'crash', 'env'].map((n) => `local__${n}`)].sort();
    assert.deepEqual(names, expected);
    assert.equal(textOf(await aggregate.callTool({ name: 'web__echo', arguments: { text: 'via web' } })), 'via web');
    assert.equal(textOf(await aggregate.callTool({ name: 'local__echo', arguments: { text: 'via local' } })), 'via local');
    // env exists only on the STDIO server: its answer proves the call went there.
    const env = JSON.parse(textOf(await aggregate.callTool({ name: 'local__env', arguments: {} }))) as { argv: string[] };
    assert.ok(env.argv.some((a) => a.endsWith('upstream-stdio.mjs')));
  });

  it('/mcp/<serverId> is transparent: the upstream\'s own tool names, and calls by those names', async () => {
    assert.deepEqual((await web.listTools()).tools.map((t) => t.name).sort(), SHARED);
    assert.deepEqual((await local.listTools()).tools.map((t) => t.name).sort(), [...SHARED, 'crash', 'env'].sort());
    assert.equal(textOf(await web.callTool({ name: 'echo', arguments: { text: 'plain name' } })), 'plain name');
    assert.equal(textOf(await local.callTool({ name: 'add', arguments: { a: 40, b: 2 } })), '42');
    // The result's structured output survives the gateway untouched on the transparent route.
    const r = await web.callTool({ name: 'echo', arguments: { text: 's' } });
    assert.deepEqual(r.structuredContent, { text: 's' });
  });

  it('a tool of server X is not callable on /mcp/Y, by its own or its namespaced name', async () => {
    for (const [client, name] of [
      [web, 'env'],
      [web, 'crash'],
      [web, 'local__env'],
      [local, 'web__echo'],
      [aggregate, 'env'],
      [aggregate, 'echo'],
    ] as const) {
      const e = await mcpError(() => client.callTool({ name, arguments: {} }));
      assert.equal(e.code, -32602, `${name}: ${e.message}`);
      assert.equal(e.message, `MCP error -32602: Unknown tool: ${name}`);
    }
  });

  it('a session belongs to the endpoint that created it; an unknown server path is 404', async () => {
    const sid = await rawSession(`${gw.url}/web`, null);
    const ok = await rpc(`${gw.url}/web`, null, sid, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.equal(ok.status, 200);
    for (const other of [`${gw.url}/local`, gw.url]) {
      const r = await rpc(other, null, sid, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
      assert.equal(r.status, 404, `${other}: ${r.text}`);
    }
    const none = await raw(`${gw.url}/nope`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}' });
    assert.equal(none.status, 404);
  });
});
