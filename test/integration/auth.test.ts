// The gateway as an OAuth 2.1 resource server: protected resource metadata, the 401/403 challenge, token validation,
// audience binding, header-only tokens, required scopes, and sessions that never replace authentication (C1-C6, C8, C9).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { parseBearerChallenge, postHeaders, raw, rawSession, rpc, PROTOCOL_VERSION, type RawResponse } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { b64url, createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'auth-it', version: '1' } } };

describe('authentication (OAuth resource server)', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let issuer: TokenIssuer;
  let good: string;
  const initWith = (token: string | null, url = gw.url) => rpc(url, token, undefined, INIT);

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const bundle = buildExampleBundle(dir);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig({ requiredScopes: ['mcp'] }),
        policy: { bundle },
        servers: [httpServer('web', up.url, { trust: 'trusted' })],
      }),
      (g) => g.stop(),
    );
    good = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
  });
  after(() => scope.close());

  /** 401 with a Bearer challenge whose resource_metadata points at this route's metadata. */
  function assert401(r: RawResponse, what: string, path = '/mcp'): Record<string, string> {
    assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
    const ch = parseBearerChallenge(r.headers['www-authenticate']);
    assert.ok(ch, `${what}: WWW-Authenticate parses (${r.headers['www-authenticate']})`);
    assert.equal(ch.resource_metadata, `${gw.base}/.well-known/oauth-protected-resource${path}`);
    assert.equal(r.headers['mcp-session-id'], undefined, `${what}: no session for an unauthenticated request`);
    return ch;
  }

  it('a valid token is accepted (control for the refusals below)', async () => {
    const r = await initWith(good);
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.headers['mcp-session-id'], 'string');
  });

  it('C1: protected resource metadata for /mcp and /mcp/<serverId>, resource equal to the URL used', async () => {
    for (const path of ['/mcp', '/mcp/web']) {
      for (const host of [`127.0.0.1:${gw.port}`, `localhost:${gw.port}`]) {
        const r = await raw(`${gw.base}/.well-known/oauth-protected-resource${path}`, { headers: { host } });
        assert.equal(r.status, 200, `${host}${path}: ${r.text}`);
        assert.match(String(r.headers['content-type']), /application\/json/);
        assert.equal(r.json.resource, `http://${host}${path}`);
        assert.deepEqual(r.json.authorization_servers, [issuer.issuer]);
        assert.ok(r.json.bearer_methods_supported.includes('header'));
        assert.deepEqual(r.json.scopes_supported, ['mcp']);
      }
    }
    assert.equal((await raw(`${gw.base}/.well-known/oauth-protected-resource/mcp/nope`)).status, 404);
  });

  it('C2: no token gets 401 with a WWW-Authenticate Bearer challenge whose resource_metadata resolves', async () => {
    for (const path of ['/mcp', '/mcp/web']) {
      const r = await initWith(null, `${gw.base}${path}`);
      const ch = assert401(r, `no token on ${path}`, path);
      assert.equal(ch.scope, 'mcp');
      const meta = await raw(ch.resource_metadata!);
      assert.equal(meta.status, 200);
      assert.equal(meta.json.resource, `${gw.base}${path}`);
    }
  });

  it('C3: expired, not-yet-valid, wrong-issuer, unknown-kid, alg:none and HS256-with-the-public-key tokens are all 401', async () => {
    const claims = { sub: 'mallory', roles: ['admin'] };
    const now = Math.floor(Date.now() / 1000);
    const unsignedNone = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: issuer.issuer, aud: issuer.audience, sub: 'mallory', roles: ['admin'], scope: 'mcp', exp: now + 600, iat: now })}.`;
    const hsWithPublicKey = await new SignJWT({ roles: ['admin'], scope: 'mcp' })
      .setProtectedHeader({ alg: 'HS256', kid: issuer.kid, typ: 'JWT' })
      .setIssuer(issuer.issuer)
      .setAudience(issuer.audience)
      .setSubject('mallory')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(issuer.publicKeyPem));
    const bad: Record<string, string> = {
      // Beyond the 30 s default clock tolerance.
      expired: await issuer.mint(claims, { expiresIn: -120 }),
      'not yet valid': await issuer.mint(claims, { notBefore: 300 }),
      'wrong issuer': await issuer.mint(claims, { issuer: 'https://evil-idp.example' }),
      'unknown kid': await issuer.mint(claims, { kid: 'other-key', privateKey: await issuer.foreignKey() }),
      'known kid, foreign key': await issuer.mint(claims, { privateKey: await issuer.foreignKey() }),
      'alg none': unsignedNone,
      'HS256 keyed with the RSA public key': hsWithPublicKey,
      'tampered payload': (() => {
        const [h, , s] = good.split('.');
        return `${h}.${b64url({ iss: issuer.issuer, aud: issuer.audience, sub: 'alice', roles: ['admin'], scope: 'mcp', exp: now + 600 })}.${s}`;
      })(),
    };
    for (const [what, token] of Object.entries(bad)) {
      const ch = assert401(await initWith(token), what);
      assert.equal(ch.error, 'invalid_token', `${what}: error="invalid_token"`);
    }
    assert401(await raw(gw.url, { method: 'POST', headers: { ...postHeaders(null), authorization: `Basic ${b64url('a:b')}` }, body: JSON.stringify(INIT) }), 'Basic scheme');
  });

  it('C4: a token for another audience is 401', async () => {
    const other = await issuer.mint({ sub: 'alice', roles: ['engineer'] }, { audience: 'https://other.example' });
    const ch = assert401(await initWith(other), 'wrong aud');
    assert.equal(ch.error, 'invalid_token');
    const list = await issuer.mint({ sub: 'alice', roles: ['engineer'] }, { audience: ['https://other.example', 'https://third.example'] });
    assert401(await initWith(list), 'aud list without this gateway');
  });

  it('C5: a token in the query string is refused with 401, even a valid one', async () => {
    assert401(await rpc(`${gw.url}?access_token=${good}`, null, undefined, INIT), 'query token');
    assert401(await rpc(`${gw.url}?access_token=${good}`, good, undefined, INIT), 'query token next to a header token');
  });

  it('C6: a valid token without the required scope gets 403 insufficient_scope', async () => {
    for (const scopeClaim of ['', 'read write', 'mcp:extra']) {
      const token = await issuer.mint({ sub: 'alice', roles: ['engineer'], scope: scopeClaim });
      const r = await initWith(token);
      assert.equal(r.status, 403, `scope "${scopeClaim}": ${r.text}`);
      const ch = parseBearerChallenge(r.headers['www-authenticate']);
      assert.ok(ch, String(r.headers['www-authenticate']));
      assert.equal(ch.error, 'insufficient_scope');
      assert.equal(ch.scope, 'mcp');
      assert.equal(ch.resource_metadata, `${gw.base}/.well-known/oauth-protected-resource/mcp`);
      assert.equal(r.json.error, 'insufficient_scope');
    }
    const multi = await issuer.mint({ sub: 'alice', roles: ['engineer'], scope: 'openid mcp profile' });
    assert.equal((await initWith(multi)).status, 200);
  });

  it('C8: a session id is not authentication: reusing it without a token (or with a bad one) is 401', async () => {
    const sid = await rawSession(gw.url, good);
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    const withToken = await rpc(gw.url, good, sid, list);
    assert.equal(withToken.status, 200);
    assert.ok(withToken.json.result.tools.length > 0);
    const without = await rpc(gw.url, null, sid, list);
    assert401(without, 'session without token');
    assert.equal(without.json.result, undefined, 'nothing of the session leaks');
    const expired = await issuer.mint({ sub: 'alice', roles: ['engineer'] }, { expiresIn: -120 });
    assert401(await rpc(gw.url, expired, sid, list), 'session with an expired token of the same subject');
    const get = await raw(gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    assert401(get, 'GET stream without token');
    const del = await raw(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert401(del, 'DELETE without token');
    assert.equal((await rpc(gw.url, good, sid, list)).status, 200, 'the session itself is still intact');
  });

  it('C9: the gateway proxies no OAuth endpoints', async () => {
    for (const path of ['/authorize', '/token', '/register', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      assert.equal((await raw(`${gw.base}${path}`)).status, 404, path);
    }
  });
});
