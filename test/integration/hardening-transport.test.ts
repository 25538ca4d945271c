// What a client (authenticated or not) can send to the HTTP endpoint without taking the gateway down or hoarding
// its memory, sockets or sessions: the transport rows of the hardening issue, each failing on the code before it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { postHeaders, raw, rawCall, rawSession, rpc, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const MAX_BODY = 64 * 1024;

/** Resident set size of a process, in bytes (Linux). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** Opens a raw TCP connection and writes `head`; resolves with what the server sent before closing. */
function rawSocket(port: number, head: string): { socket: Socket; closed: Promise<{ data: string; ms: number }> } {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(head);
  const closed = new Promise<{ data: string; ms: number }>((resolve) => socket.on('close', () => resolve({ data, ms: Date.now() - started })));
  return { socket, closed };
}

describe('hardening: the transport', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let issuer: TokenIssuer;
  let token: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    issuer = await createIssuer(dir);
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [httpServer('web', up.url)],
        http: { maxBodyBytes: MAX_BODY, requestTimeoutMs: 1000, headersTimeoutMs: 1000 },
        sessions: { maxPerPrincipal: 3 },
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  const alive = async () => assert.equal((await raw(`${gw.base}/healthz`)).status, 200);

  it('answers a path with a malformed escape 400, unauthenticated, on POST, GET and DELETE, and stays up (row 1)', async () => {
    for (const p of ['/mcp/%', '/mcp/%ZZ', '/mcp/%E0%A4%A', '/mcp/%C0']) {
      for (const method of ['POST', 'GET', 'DELETE']) {
        const r = await raw(`${gw.base}${p}`, { method, headers: postHeaders(null), body: method === 'POST' ? '{"jsonrpc":"2.0","id":1,"method":"ping"}' : undefined });
        assert.ok(r.status === 400 || r.status === 404, `${method} ${p}: ${r.status} ${r.text}`);
      }
    }
    await alive();
  });

  it('keeps answering calls already in flight while malformed paths arrive (row 1 under load)', async () => {
    const sid = await rawSession(gw.url, token);
    const calls = Array.from({ length: 40 }, (_, i) => rawCall(gw.url, token, sid, 'web__echo', { text: `n${i}` }));
    const bad = Array.from({ length: 40 }, () => raw(`${gw.base}/mcp/%`, { method: 'POST', headers: postHeaders(null), body: '{}' }));
    const answers = await Promise.all(calls);
    await Promise.all(bad);
    for (const [i, a] of answers.entries()) assert.match(JSON.stringify(a.json?.result), new RegExp(`n${i}`));
    await alive();
  });

  it('refuses initialize params beyond sessions.maxInitializeBytes and keeps memory flat under a flood of large ones (row 2)', async () => {
    const big = 'x'.repeat(60 * 1024);
    const init = (clientInfo: unknown) =>
      rpc(gw.url, token, undefined, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo } });
    const one = await init({ name: big, version: '1' });
    assert.equal(one.status, 200);
    assert.equal(one.json?.error?.code, -32602, one.text);
    assert.match(one.json.error.message, /maxInitializeBytes/);
    assert.equal(one.headers['mcp-session-id'], undefined);
    // Params the gateway does not keep (anything beyond version, capabilities and client info) cost nothing.
    const ok = await rpc(gw.url, token, undefined, {
      jsonrpc: '2.0',
      id: 2,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'c', version: '1' }, junk: big },
    });
    assert.equal(typeof ok.headers['mcp-session-id'], 'string', ok.text);
    await raw(gw.url, { method: 'DELETE', headers: postHeaders(token, ok.headers['mcp-session-id'] as string) });

    const before = rss(gw.process.pid);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 30 }, () => init({ name: big, version: '1' })));
    }
    const grown = rss(gw.process.pid) - before;
    // 300 × 60 KB would be 18 MB kept if each were held; allow for the parser's transient garbage.
    assert.ok(grown < 40 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MB`);
    await alive();
  });

  it('closes a request whose body never arrives after http.requestTimeoutMs (row 3)', async () => {
    const { socket, closed } = rawSocket(
      gw.port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n`,
    );
    const r = await Promise.race([closed, new Promise<null>((res) => setTimeout(() => res(null), 8000))]);
    socket.destroy();
    assert.ok(r, 'the stalled request was not closed within 8 s');
    assert.match(r.data, /^HTTP\/1\.1 408/);
    assert.ok(r.ms < 5000, `closed after ${r.ms} ms`);
    await alive();
  });

  it('closes a connection that never finishes its headers (row 3)', async () => {
    const { socket, closed } = rawSocket(gw.port, `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
    const r = await Promise.race([closed, new Promise<null>((res) => setTimeout(() => res(null), 8000))]);
    socket.destroy();
    assert.ok(r, 'the slow-header connection was not closed within 8 s');
  });

  it('caps sessions per principal with 429 and leaves other principals alone (row 9)', async () => {
    const carol = await issuer.mint({ sub: 'carol', roles: ['analyst'] });
    const dave = await issuer.mint({ sub: 'dave', roles: ['analyst'] });
    const sids = [await rawSession(gw.url, carol), await rawSession(gw.url, carol), await rawSession(gw.url, carol)];
    const fourth = await rpc(gw.url, carol, undefined, { jsonrpc: '2.0', id: 9, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
    assert.equal(fourth.status, 429, fourth.text);
    assert.match(fourth.json?.error?.message, /Too many sessions for this identity/);
    assert.equal(typeof (await rawSession(gw.url, dave)), 'string');
    // Ending one frees its place.
    assert.equal((await raw(gw.url, { method: 'DELETE', headers: postHeaders(carol, sids[0]) })).status, 200);
    assert.equal(typeof (await rawSession(gw.url, carol)), 'string');
  });

  it('answers 413 to an endless chunked body and closes the connection instead of reading on (row 18)', async () => {
    const { socket, closed } = rawSocket(
      gw.port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = 'x'.repeat(16 * 1024);
    let sent = 0;
    const pump = setInterval(() => {
      if (socket.destroyed) return;
      for (let i = 0; i < 16; i++) {
        socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        sent += chunk.length;
      }
    }, 5);
    const r = await Promise.race([closed, new Promise<null>((res) => setTimeout(() => res(null), 8000))]);
    clearInterval(pump);
    socket.destroy();
    assert.ok(r, `the connection stayed open after ${sent} bytes`);
    assert.match(r.data, /^HTTP\/1\.1 413/);
    assert.ok(sent < 64 * 1024 * 1024, `${sent} bytes were accepted before the close`);
    await alive();
  });

  it('ends an open GET stream when the token that opened it expires (row 19)', async () => {
    const short = await issuer.mint({ sub: 'erin', roles: ['analyst'] }, { expiresIn: 3 });
    const sid = await rawSession(gw.url, short);
    const started = Date.now();
    const r = await raw(gw.url, { method: 'GET', headers: { ...postHeaders(short, sid), accept: 'text/event-stream', 'mcp-protocol-version': PROTOCOL_VERSION }, timeoutMs: 15_000 });
    assert.equal(r.status, 200);
    const ms = Date.now() - started;
    assert.ok(ms < 6000, `the stream stayed open ${ms} ms past a 3 s token`);
  });
});
