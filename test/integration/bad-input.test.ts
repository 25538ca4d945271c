// Malformed and hostile input at the HTTP endpoint: each gets the right status and JSON-RPC code, nothing reaches
// the upstream, and the process stays healthy (issue point 7; checklist C16, C17).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { postHeaders, raw, rawCall, rawSession, rpc, PROTOCOL_VERSION, type RawResponse } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const MAX_BODY = 64 * 1024;

/** A transport-level refusal: the status, a JSON-RPC error with id null, and the code. */
function assertRefused(r: RawResponse, status: number, code: number): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.jsonrpc, '2.0', r.text);
  assert.equal(r.json?.id, null, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
}

describe('bad input', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let token: string;
  let sid: string;
  let upstreamCalls: () => Promise<number>;
  const post = (body: string | Buffer, session: string | undefined = sid) =>
    raw(gw.url, { method: 'POST', headers: postHeaders(token, session, { 'mcp-protocol-version': PROTOCOL_VERSION }), body });

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const bundle = buildExampleBundle(dir);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle },
        http: { maxBodyBytes: MAX_BODY },
        servers: [httpServer('web', up.url, { trust: 'trusted' })],
      }),
      (g) => g.stop(),
    );
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    sid = await rawSession(gw.url, token);
    const direct = scope.defer(await directClient(up.url), (d) => d.close());
    upstreamCalls = () => direct.countCalls();
  });
  after(() => scope.close());

  it('malformed JSON gets 400 with JSON-RPC -32700', async () => {
    assertRefused(await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"'), 400, -32700);
    assertRefused(await post('{bad json'), 400, -32700);
  });

  it('a JSON-RPC batch array gets 400 with -32600', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ];
    assertRefused(await post(JSON.stringify(batch)), 400, -32600);
  });

  it('a JSON object that is not JSON-RPC gets 400 with -32600', async () => {
    assertRefused(await post('{"hello":"world"}'), 400, -32600);
    assertRefused(await post('{"jsonrpc":"1.0","id":1,"method":"ping"}'), 400, -32600);
    assertRefused(await post('{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}'), 400, -32600);
  });

  it('valid JSON that is not an object (a number, a string, null) gets 400 with -32600, not a parse error', async () => {
    // JSON-RPC 2.0: -32700 is for invalid JSON; valid JSON that is not a Request object is -32600.
    for (const body of ['42', '"tools/list"', 'null']) assertRefused(await post(body), 400, -32600);
  });

  it('an unknown tool gets -32602', async () => {
    const r = await rawCall(gw.url, token, sid, 'web__no_such_tool', {});
    assert.equal(r.status, 200);
    assert.equal(r.json.error.code, -32602);
    assert.equal(r.json.error.message, 'Unknown tool: web__no_such_tool');
  });

  it('C17: arguments failing the schema get -32602 naming the field, and the upstream never sees the call', async () => {
    const before = await upstreamCalls();
    const wrongType = await rawCall(gw.url, token, sid, 'web__add', { a: 'one', b: 2 });
    assert.equal(wrongType.json.error.code, -32602, wrongType.text);
    assert.match(wrongType.json.error.message, /\ba\b.*number/);
    assert.equal(wrongType.json.error.data.field, 'a');
    const missing = await rawCall(gw.url, token, sid, 'web__slow_echo', { text: 'x' });
    assert.equal(missing.json.error.code, -32602, missing.text);
    assert.match(missing.json.error.message, /\bms\b.*required/);
    assert.equal(missing.json.error.data.field, 'ms');
    const notObject = await rpc(gw.url, token, sid, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'web__add', arguments: [1, 2] } }, { 'mcp-protocol-version': PROTOCOL_VERSION });
    assert.equal(notObject.json.error.code, -32602, notObject.text);
    assert.match(notObject.json.error.message, /arguments/);
    assert.equal(await upstreamCalls(), before, 'no schema-invalid call may reach the upstream');
    // The same tool with valid arguments does reach it.
    assert.equal((await rawCall(gw.url, token, sid, 'web__add', { a: 1, b: 2 })).json.result.content[0].text, '3');
    assert.equal(await upstreamCalls(), before + 1);
  });

  it('an unknown session id gets 404', async () => {
    const r = await rpc(gw.url, token, 'no-such-session-0123456789', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assertRefused(r, 404, -32001);
  });

  it('a non-initialize request without a session id gets 400', async () => {
    const r = await rpc(gw.url, token, undefined, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assertRefused(r, 400, -32600);
    assert.match(r.json.error.message, /Mcp-Session-Id/i);
  });

  it('a body over http.maxBodyBytes gets 413; one just under the limit does not', async () => {
    // A tools/call whose serialized body is exactly `size` bytes; returns the body and the echo text in it.
    const padded = (size: number) => {
      const msg = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'web__echo', arguments: { text: '' } } };
      msg.params.arguments.text = 'x'.repeat(size - JSON.stringify(msg).length);
      return { body: JSON.stringify(msg), text: msg.params.arguments.text };
    };
    const over = padded(MAX_BODY + 1);
    assert.equal(Buffer.byteLength(over.body), MAX_BODY + 1);
    assertRefused(await post(over.body), 413, -32600);
    const under = padded(MAX_BODY - 16);
    const r = await post(under.body);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(r.json.result.content[0].text, under.text);
  });

  it('C16: invalid JSON, a batch and a 10 MB body get 400/400/413, and the process stays healthy', async () => {
    assert.equal((await post('{"jsonrpc":')).status, 400);
    assert.equal((await post('[{"jsonrpc":"2.0","id":1,"method":"ping"}]')).status, 400);
    const huge = await post(Buffer.alloc(10 * 1024 * 1024, 0x61));
    assert.equal(huge.status, 413);
    const health = await raw(`${gw.base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
    // Still serving real traffic on the same session.
    assert.equal((await rawCall(gw.url, token, sid, 'web__echo', { text: 'alive' })).json.result.content[0].text, 'alive');
    assert.equal(gw.process.hasExited(), false);
  });
});
