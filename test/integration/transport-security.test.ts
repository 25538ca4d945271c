// Streamable HTTP hardening: Origin and Host checks, MCP-Protocol-Version, session id quality and lifecycle,
// sessions bound to their principal, and no cross-delivery between concurrent clients (C10-C15).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, raw, rawSession, rpc, textOf, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

const ALLOWED_ORIGIN = 'https://app.example.com';
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'ts-it', version: '1' } } };

describe('transport security', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let issuer: TokenIssuer;
  let alice: string;
  let bob: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: buildAllowAllBundle(dir) },
        http: { allowedOrigins: [ALLOWED_ORIGIN] },
        // C13 opens 1,000 sessions as one identity: above the per-principal default on purpose.
        sessions: { maxPerPrincipal: 2000 },
        servers: [httpServer('web', up.url), stdioServer('local')],
      }),
      (g) => g.stop(),
    );
    alice = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    bob = await issuer.mint({ sub: 'bob', roles: ['engineer'] });
  });
  after(() => scope.close());

  it('C10: a foreign Origin is refused with 403 before authentication; an allowed Origin and no Origin pass', async () => {
    const evil = await rpc(gw.url, null, undefined, INIT, { origin: 'http://evil.example' });
    assert.equal(evil.status, 403, evil.text);
    assert.equal(evil.headers['www-authenticate'], undefined, 'refused before auth: no challenge');
    const evilWithToken = await rpc(gw.url, alice, undefined, INIT, { origin: 'http://evil.example' });
    assert.equal(evilWithToken.status, 403);
    assert.equal(evilWithToken.headers['mcp-session-id'], undefined);
    assert.equal((await raw(`${gw.base}/.well-known/oauth-protected-resource/mcp`, { headers: { origin: 'http://evil.example' } })).status, 403);
    assert.equal((await rpc(gw.url, alice, undefined, INIT, { origin: 'null' })).status, 403, 'Origin: null');
    assert.equal((await rpc(gw.url, alice, undefined, INIT, { origin: ALLOWED_ORIGIN })).status, 200, 'allowed origin');
    assert.equal((await rpc(gw.url, alice, undefined, INIT)).status, 200, 'no origin');
    assert.equal((await rpc(gw.url, null, undefined, INIT, { origin: ALLOWED_ORIGIN })).status, 401, 'allowed origin still needs a token');
  });

  it('C11: a foreign Host header gets 4xx; the loopback names pass', async () => {
    for (const host of ['evil.example.com', `evil.example.com:${gw.port}`, 'attacker.localhost.evil']) {
      const r = await rpc(gw.url, alice, undefined, INIT, { host });
      assert.ok(r.status >= 400 && r.status < 500, `Host ${host}: ${r.status}`);
      assert.equal(r.headers['mcp-session-id'], undefined);
    }
    for (const host of [`localhost:${gw.port}`, `127.0.0.1:${gw.port}`]) {
      assert.equal((await rpc(gw.url, alice, undefined, INIT, { host })).status, 200, `Host ${host}`);
    }
  });

  it('C12: MCP-Protocol-Version 1999-01-01 gets 400; 2025-06-18 and 2025-11-25 get 200', async () => {
    const sid = await rawSession(gw.url, alice);
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    const bad = await rpc(gw.url, alice, sid, list, { 'mcp-protocol-version': '1999-01-01' });
    assert.equal(bad.status, 400, bad.text);
    // UnsupportedProtocolVersion (MCP 2026-07-28's error, which 2025 clients read as a 400): the versions served.
    assert.equal(bad.json.error.code, -32022);
    assert.equal(bad.json.id, 1);
    assert.ok(bad.json.error.data.supported.includes('2025-11-25'));
    assert.equal(bad.json.error.data.requested, '1999-01-01');
    for (const v of ['2025-06-18', '2025-11-25']) {
      const r = await rpc(gw.url, alice, sid, list, { 'mcp-protocol-version': v });
      assert.equal(r.status, 200, `${v}: ${r.text}`);
      assert.ok(Array.isArray(r.json.result.tools));
    }
    const get = await raw(gw.url, { headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '1999-01-01' } });
    assert.equal(get.status, 400, 'GET checks the version too');
  });

  it('C13: 1,000 session ids are unique, carry >= 128 bits, use only 0x21-0x7E; a DELETEd session is 404', async () => {
    const ids: string[] = [];
    const batch = 25;
    for (let i = 0; i < 1000; i += batch) {
      const rs = await Promise.all(Array.from({ length: batch }, () => rpc(gw.url, alice, undefined, INIT)));
      for (const r of rs) {
        assert.equal(r.status, 200);
        ids.push(String(r.headers['mcp-session-id']));
      }
    }
    assert.equal(new Set(ids).size, 1000, 'unique');
    for (const id of ids) assert.match(id, /^[\x21-\x7E]+$/, `visible ASCII only: ${JSON.stringify(id)}`);
    const alphabet = new Set(ids.join('')).size;
    const minLen = Math.min(...ids.map((id) => id.length));
    const bits = minLen * Math.log2(alphabet);
    assert.ok(bits >= 128, `about ${bits.toFixed(0)} bits (length ${minLen}, alphabet ${alphabet})`);

    const sid = await rawSession(gw.url, alice);
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    assert.equal((await rpc(gw.url, alice, sid, list)).status, 200);
    const del = await raw(gw.url, { method: 'DELETE', headers: { authorization: `Bearer ${alice}`, 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    const reuse = await rpc(gw.url, alice, sid, list);
    assert.equal(reuse.status, 404);
    assert.equal(reuse.json.error.code, -32001);
    assert.equal((await raw(gw.url, { method: 'DELETE', headers: { authorization: `Bearer ${alice}`, 'mcp-session-id': sid } })).status, 404);
  });

  it("C14: a session made with token A is refused (404) to valid token B for POST, GET and DELETE; nothing of A's leaks", async () => {
    const sid = await rawSession(gw.url, alice);
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    const unknown = await rpc(gw.url, bob, 'no-such-session-id-000000000000000000000', list);
    const post = await rpc(gw.url, bob, sid, list);
    assert.equal(post.status, 404);
    assert.equal(post.text, unknown.text, "B gets exactly the unknown-session answer: A's session is not even confirmed to exist");
    const call = await rpc(gw.url, bob, sid, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'web__echo', arguments: { text: 'x' } } });
    assert.equal(call.status, 404);
    const get = await raw(gw.url, { headers: { authorization: `Bearer ${bob}`, accept: 'text/event-stream', 'mcp-session-id': sid }, timeoutMs: 3000 });
    assert.equal(get.status, 404);
    assert.equal(get.text, unknown.text);
    const resume = await raw(gw.url, { headers: { authorization: `Bearer ${bob}`, accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': '1' }, timeoutMs: 3000 });
    assert.equal(resume.status, 404, 'Last-Event-ID resumption with B');
    const del = await raw(gw.url, { method: 'DELETE', headers: { authorization: `Bearer ${bob}`, 'mcp-session-id': sid } });
    assert.equal(del.status, 404);
    // A's session is untouched by B's attempts.
    const mine = await rpc(gw.url, alice, sid, list);
    assert.equal(mine.status, 200);
    assert.ok(mine.json.result.tools.length > 0);
  });

  it('C15: two SDK clients, ids both from 0, 240 concurrent calls with per-client nonces: every answer goes to its caller', async () => {
    const a = await connectClient(gw.url, alice, 'client-a');
    const b = await connectClient(gw.url, bob, 'client-b');
    try {
      const PER_CLIENT = 120;
      const calls: Array<Promise<[string, string]>> = [];
      for (let i = 0; i < PER_CLIENT; i++) {
        for (const [tag, client] of [['A', a], ['B', b]] as const) {
          const nonce = `${tag}-${i}-${Math.random().toString(36).slice(2)}`;
          const kind = i % 4;
          const req =
            kind === 0
              ? { name: 'web__slow_echo', arguments: { text: nonce, ms: 20 + (i % 7) * 10 } }
              : kind === 1
                ? { name: 'local__slow_echo', arguments: { text: nonce, ms: 10 + (i % 5) * 10 } }
                : kind === 2
                  ? { name: 'web__echo', arguments: { text: nonce } }
                  : { name: 'local__echo', arguments: { text: nonce } };
          calls.push(client.callTool(req).then((r) => [nonce, textOf(r)]));
        }
      }
      const results = await Promise.all(calls);
      assert.equal(results.length, PER_CLIENT * 2);
      const crossed = results.filter(([sent, got]) => sent !== got);
      assert.deepEqual(crossed, [], 'every response carries its own request nonce');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
