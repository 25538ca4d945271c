// Redaction by the example policy, seen from both sides: what the client gets back, and what the upstream received.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway } from '../helpers/gateway.js';
import { connectClient, textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const CARD = '4111 1111 1111 1111';

interface Recorded {
  method: string;
  body: { method?: string; params?: { name?: string; arguments?: Record<string, unknown> } } | string | null;
}

describe('redaction is visible in results and in what the upstream receives', () => {
  const scope = new Scope();
  let recordFile: string;
  let analyst: Client;
  let engineer: Client;
  let piiReader: Client;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    recordFile = join(dir, 'upstream-http.jsonl');
    const bundle = buildExampleBundle(dir);
    const up = scope.defer(await startHttpUpstream({ record: recordFile }), (u) => u.stop());
    const issuer = await createIssuer(dir);
    const gw = scope.defer(
      await startGateway(dir, { auth: issuer.authConfig(), policy: { bundle }, servers: [httpServer('web', up.url, { trust: 'trusted' })] }),
      (g) => g.stop(),
    );
    analyst = scope.defer(await connectClient(gw.url, await issuer.mint({ sub: 'bob', roles: ['analyst'] })), (c) => c.close());
    engineer = scope.defer(await connectClient(gw.url, await issuer.mint({ sub: 'alice', roles: ['engineer'] })), (c) => c.close());
    piiReader = scope.defer(await connectClient(gw.url, await issuer.mint({ sub: 'carol', roles: ['engineer', 'pii-reader'] })), (c) => c.close());
  });
  after(() => scope.close());

  function upstreamCallsWith(marker: string): Array<Record<string, unknown>> {
    return readFileSync(recordFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(marker))
      .map((l) => JSON.parse(l) as Recorded)
      .filter((r) => typeof r.body === 'object' && r.body?.method === 'tools/call')
      .map((r) => (r.body as { params: { arguments: Record<string, unknown> } }).params.arguments);
  }

  it('e-mail and card number in a result are masked for subjects without pii-reader (text and structuredContent)', async () => {
    for (const client of [analyst, engineer]) {
      const r = await client.callTool({ name: 'web__get_contact', arguments: { name: 'zed' } });
      assert.equal(textOf(r), 'zed: mail [redacted:email], card [redacted:card]');
      assert.deepEqual(r.structuredContent, { name: 'zed', email: '[redacted:email]', card: '[redacted:card]' });
      assert.ok(!JSON.stringify(r).includes('@example.com') && !JSON.stringify(r).includes('4111'));
    }
  });

  it('a pii-reader sees the raw result', async () => {
    const r = await piiReader.callTool({ name: 'web__get_contact', arguments: { name: 'zed' } });
    assert.equal(textOf(r), 'zed: mail zed@example.com, card 4111-1111-1111-1111');
    assert.deepEqual(r.structuredContent, { name: 'zed', email: 'zed@example.com', card: '4111-1111-1111-1111' });
  });

  it('a card number in the arguments arrives masked at the upstream, for every subject including pii-reader', async () => {
    for (const [who, client] of [['engineer', engineer], ['pii-reader', piiReader]] as const) {
      // Letters only: a long digit run in the marker would itself be masked as a card number.
      const marker = `m-${who}-${randomUUID().replace(/[^a-f]/g, '')}`;
      const r = await client.callTool({ name: 'web__echo', arguments: { text: `${marker} pays with ${CARD} today` } });
      // The echo tool returns what it received: the masked text.
      assert.equal(textOf(r), `${marker} pays with [redacted:card] today`);
      const received = await waitFor(() => (upstreamCallsWith(marker).length > 0 ? upstreamCallsWith(marker) : null), `upstream record for ${marker}`);
      assert.equal(received.length, 1);
      assert.deepEqual(received[0], { text: `${marker} pays with [redacted:card] today` });
    }
    assert.ok(!readFileSync(recordFile, 'utf8').includes(CARD), 'the raw card number must never reach the upstream');
  });
});
