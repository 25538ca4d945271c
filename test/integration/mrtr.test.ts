// A 2026-07-28 client in front of a 2025 upstream that asks for input mid-call (elicitation, sampling): the gateway
// turns the upstream's server-to-client request into an input_required result and the client's retry into the
// upstream's answer. requestState is the gateway's, integrity-protected, bound to the caller and used once.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { raw } from '../helpers/mcp.js';
import { FIXTURES, ROOT, tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { spawnManaged, stopManaged, waitForStdout } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';

const MODERN = '2026-07-28';

function call(token: string, id: number, name: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}, capabilities: Record<string, unknown> = { elicitation: {}, sampling: {} }) {
  return {
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': name,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name, arguments: args, ...extra, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': capabilities } },
    }),
  };
}

describe('MRTR: input_required in front of a 2025 upstream', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let alice: string;
  let bob: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const up = scope.defer(spawnManaged(process.execPath, [join(FIXTURES, 'relay-server.mjs'), '--port', '0'], { cwd: ROOT }), (p) => stopManaged(p));
    const port = Number((await waitForStdout(up, /^READY (\d+)$/m))[1]);
    const issuer = await createIssuer(dir);
    alice = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    bob = await issuer.mint({ sub: 'bob', roles: ['engineer'] });
    gw = scope.defer(
      await startGateway(dir, { auth: issuer.authConfig(), policy: { bundle: buildAllowAllBundle(dir) }, servers: [{ id: 'relay', url: `http://127.0.0.1:${port}/mcp` }] }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('the SDK v2 client answers an upstream elicitation through input_required and gets the final result', async () => {
    const c = new ClientV2({ name: 'v2', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } }, capabilities: { elicitation: {} } });
    c.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { answer: 'forty-two' } }));
    await c.connect(new TransportV2(new URL(`${gw.base}/mcp/relay`), { requestInit: { headers: { Authorization: `Bearer ${alice}` } } }));
    try {
      const r = await c.callTool({ name: 'ask_user', arguments: { question: 'the answer?' } });
      assert.match(JSON.stringify(r.content), /forty-two/);
    } finally {
      await c.close();
    }
  });

  it('raw: input_required carries the request and a state; the retry completes; the state is refused when replayed, tampered or presented by another caller', async () => {
    const url = `${gw.base}/mcp/relay`;
    const first = await raw(url, { method: 'POST', ...call(alice, 1, 'ask_llm', { prompt: 'hi' }) });
    assert.equal(first.status, 200, first.text);
    const ir = first.json.result;
    assert.equal(ir.resultType, 'input_required', first.text);
    const [key, request] = Object.entries(ir.inputRequests as Record<string, { method: string }>)[0]!;
    assert.equal(request.method, 'sampling/createMessage');
    const state = ir.requestState as string;
    const answer = { [key]: { role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled-text' } } };

    // Another principal, and a tampered state, are refused (and do not consume the state).
    const other = await raw(url, { method: 'POST', ...call(bob, 2, 'ask_llm', { prompt: 'hi' }, { requestState: state, inputResponses: answer }) });
    assert.equal(other.json.error?.code, -32602, other.text);
    const tampered = `${state.slice(0, -2)}${state.endsWith('AA') ? 'BB' : 'AA'}`;
    const bad = await raw(url, { method: 'POST', ...call(alice, 3, 'ask_llm', { prompt: 'hi' }, { requestState: tampered, inputResponses: answer }) });
    assert.equal(bad.json.error?.code, -32602, bad.text);

    const done = await raw(url, { method: 'POST', ...call(alice, 4, 'ask_llm', { prompt: 'hi' }, { requestState: state, inputResponses: answer }) });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.json.result.resultType, 'complete');
    assert.match(JSON.stringify(done.json.result.content), /sampled-text/);

    const replay = await raw(url, { method: 'POST', ...call(alice, 5, 'ask_llm', { prompt: 'hi' }, { requestState: state, inputResponses: answer }) });
    assert.equal(replay.json.error?.code, -32602, replay.text);
  });

  it('a client that did not declare the capability the upstream needs gets -32021 naming it (400)', async () => {
    const r = await raw(`${gw.base}/mcp/relay`, { method: 'POST', ...call(alice, 6, 'ask_user', { question: 'q' }, {}, {}) });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, -32021);
    assert.deepEqual(r.json.error.data.requiredCapabilities, { elicitation: {} });
  });
});
