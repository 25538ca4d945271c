// A bounded, seeded fuzz of the HTTP endpoint: JSON-RPC shapes, paths with bad escapes, odd Unicode and odd headers,
// unauthenticated and authenticated. Asserts the process stays up, memory stays bounded and every answer is a proper
// refusal or result (never a 5xx, never a body that is not what its content type says). Fixed seed: a failure
// reproduces with the same sequence.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { raw, rawSession, PROTOCOL_VERSION, type RawResponse } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

const SEED = 0x5eed_2026;
const REQUESTS = 3000;
const CONCURRENCY = 8;

/** mulberry32: a tiny seeded PRNG, so the run is the same every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

const METHODS = ['initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/read', 'resources/templates/list', 'resources/subscribe', 'completion/complete', 'logging/setLevel', 'tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list', 'notifications/initialized', 'notifications/cancelled', 'x/unknown', '', '\u0000', 'tools/call\ud800'];
const ODD_STRINGS = ['', '\ud800', '\udfff', 'a\ud800b', '\u202e\u2066evil', '\u{e0041}\u{e0042}', '%', '%ZZ', '\u0000', '../../etc/passwd', 'x'.repeat(5000), '🚀', '\ufeff', '<script>', "' OR 1=1 --"];
const PATHS = ['/mcp', '/mcp/', '/mcp/web', '/mcp/local', '/mcp/%', '/mcp/%ZZ', '/mcp/%E0%A4%A', '/mcp/%C0%AF', '/mcp/nope', '/mcp/web/extra', '/mcp/%2e%2e', '/mcp?x=%', '/mcp/web?access_token=x', '/.well-known/oauth-protected-resource/mcp/%', '/.well-known/oauth-protected-resource/mcp/web', '/healthz', '/readyz', '/approvals/%', '/%', '/mcp/' + 'a'.repeat(3000), '/mcp/%F0%9F%9A%80'];

describe('fuzz: the HTTP endpoint', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let token: string;
  let sid: string;
  let chaosSid: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: buildExampleBundle(dir) },
        servers: [httpServer('web', up.url, { trust: 'trusted' }), stdioServer('local')],
        http: { maxBodyBytes: 256 * 1024 },
      }),
      (g) => g.stop(),
    );
    sid = await rawSession(gw.url, token);
    chaosSid = await rawSession(gw.url, token);
  });
  after(() => scope.close());

  it(`${REQUESTS} seeded requests: no 5xx, every JSON body parses, the process stays up with bounded memory`, { timeout: 120_000 }, async () => {
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const oddValue = (depth = 0): unknown => {
      const r = rnd();
      if (depth > 3 || r < 0.3) return pick(ODD_STRINGS);
      if (r < 0.4) return pick([null, true, 0, -1, 1e308, -0, 2 ** 53 + 1]);
      if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => oddValue(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(rnd() * 4); i++) o[pick(ODD_STRINGS).slice(0, 50) || 'k'] = oddValue(depth + 1);
      return o;
    };
    const message = (): string => {
      const r = rnd();
      if (r < 0.05) return pick(['', '{', '[]', '[{}]', 'null', '42', '"x"', '{"jsonrpc":"2.0"}', '\u0000', '{"jsonrpc":"2.0","id":1,"method":"ping"']);
      const m: Record<string, unknown> = { jsonrpc: rnd() < 0.9 ? '2.0' : pick(['1.0', 2, null]) };
      if (rnd() < 0.85) m.id = pick([1, 'a', null, 1.5, {}, [], '\ud800', 2 ** 60]);
      if (rnd() < 0.95) m.method = pick(METHODS);
      if (rnd() < 0.8) {
        const method = m.method;
        if (method === 'tools/call') m.params = { name: pick(['web__echo', 'web__delete_thing', 'local__echo', 'echo', '\ud800', 'web__', '__']), arguments: rnd() < 0.8 ? { text: pick(ODD_STRINGS) } : oddValue() };
        else if (method === 'initialize') m.params = { protocolVersion: pick([PROTOCOL_VERSION, '2026-07-28', 'x', null]), capabilities: oddValue(), clientInfo: oddValue() };
        else m.params = oddValue();
      }
      if (rnd() < 0.05) m.result = oddValue();
      let text = JSON.stringify(m);
      // Lone surrogates survive JSON.stringify as escapes; also send some raw invalid UTF-8 bytes.
      if (rnd() < 0.05) text = text.replace('"2.0"', '"2.0\\ud800"');
      return text;
    };
    const headers = (): Record<string, string> => {
      const h: Record<string, string> = {};
      const r = rnd();
      if (r < 0.6) h.authorization = `Bearer ${token}`;
      else if (r < 0.7) h.authorization = pick(['Bearer', 'Bearer x.y.z', 'Basic YTpi', `Bearer ${token}x`, 'Bearer ' + 'a'.repeat(4000)]);
      h['content-type'] = rnd() < 0.85 ? 'application/json' : pick(['text/plain', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'multipart/form-data', '']);
      h.accept = rnd() < 0.85 ? 'application/json, text/event-stream' : pick(['text/event-stream', '*/*', '', 'application/json']);
      // Chaos has a session of its own: a random DELETE may end it, and the well-formed calls keep theirs.
      if (rnd() < 0.6) h['mcp-session-id'] = rnd() < 0.8 ? chaosSid : pick(['x', '%', 'a'.repeat(500), '']);
      if (rnd() < 0.5) h['mcp-protocol-version'] = pick([PROTOCOL_VERSION, '2025-11-25', '2026-07-28', '1999-01-01', 'x']);
      if (rnd() < 0.05) h.origin = pick(['http://evil.example', 'null', 'http://127.0.0.1', 'x']);
      if (rnd() < 0.03) h['content-encoding'] = pick(['gzip', 'br', 'x']);
      if (rnd() < 0.05) h['last-event-id'] = pick(ODD_STRINGS.filter((s) => /^[\x20-\x7e]*$/.test(s)));
      return h;
    };

    const before = rss(gw.process.pid);
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    let i = 0;
    const worker = async () => {
      while (i < REQUESTS) {
        const n = i++;
        // Half are well-formed calls with odd contents (they reach policy, validation and the upstreams); half chaos.
        if (rnd() < 0.5) {
          const params = { name: pick(['web__echo', 'local__echo', 'web__delete_thing', 'web__echo\ud800']), arguments: rnd() < 0.7 ? { text: pick(ODD_STRINGS) } : oddValue() };
          const call = JSON.stringify({ jsonrpc: '2.0', id: n, method: rnd() < 0.8 ? 'tools/call' : pick(['tools/list', 'ping', 'prompts/list', 'resources/list']), params });
          const r = await raw(gw.url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION }, body: call, timeoutMs: 15_000 }).catch((err: Error) => {
            problems.push(`#${n} call: ${err.message}`);
            return null;
          });
          if (!r) continue;
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status !== 200 || r.json?.id !== n || (r.json.result === undefined && r.json.error === undefined)) problems.push(`#${n} call: ${r.status} ${r.text.slice(0, 200)}`);
          continue;
        }
        const method = rnd() < 0.8 ? 'POST' : pick(['GET', 'DELETE', 'PUT', 'OPTIONS', 'PATCH']);
        const path = rnd() < 0.7 ? pick(['/mcp', '/mcp/web', '/mcp/local']) : pick(PATHS);
        let body: string | Buffer | undefined = method === 'POST' || method === 'PUT' ? message() : undefined;
        if (body !== undefined && rnd() < 0.02) body = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0xc0, 0x22, 0x7d]);
        const h = headers();
        // A GET stream would stay open: ask for one only without a valid session, so it is refused at once.
        if (method === 'GET' && h['mcp-session-id'] === chaosSid) delete h['mcp-session-id'];
        let r: RawResponse;
        try {
          r = await raw(`${gw.base}${path}`, { method, headers: h, body, timeoutMs: 15_000 });
        } catch (err) {
          problems.push(`#${n} ${method} ${path}: ${(err as Error).message}`);
          continue;
        }
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status >= 500 && r.status !== 503) problems.push(`#${n} ${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
        const ctype = String(r.headers['content-type'] ?? '');
        if (ctype.includes('application/json') && r.text !== '') {
          try {
            JSON.parse(r.text);
          } catch {
            problems.push(`#${n} ${method} ${path}: JSON content type, body not JSON: ${r.text.slice(0, 100)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const grown = rss(gw.process.pid) - before;
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems; statuses ${JSON.stringify([...statuses])}`);
    assert.equal((await raw(`${gw.base}/healthz`)).status, 200);
    assert.ok(grown < 150 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MB`);
    // The run exercised more than the refusals: some calls got through to results.
    assert.ok((statuses.get(200) ?? 0) > 100, JSON.stringify([...statuses]));
  });
});
