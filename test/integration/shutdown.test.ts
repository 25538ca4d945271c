// Graceful shutdown on SIGTERM: the in-flight call completes, new sessions are refused with 503, the process exits 0
// and its STDIO child is gone.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, raw, rpc, textOf, type RawResponse } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { findPids, parentPid, pidAlive, waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

describe('SIGTERM', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let client: Client;
  let httpRecord: string;
  let stdioMarker: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    httpRecord = join(dir, 'http-record.jsonl');
    stdioMarker = join(dir, 'stdio-record.jsonl');
    const up = scope.defer(await startHttpUpstream({ record: httpRecord }), (u) => u.stop());
    gw = scope.defer(
      await startGateway(dir, {
        auth: { mode: 'none' },
        policy: { bundle: buildAllowAllBundle(dir) },
        shutdown: { graceSeconds: 10 },
        servers: [httpServer('web', up.url), stdioServer('local', { args: ['--record', stdioMarker] })],
      }),
      (g) => g.stop(),
    );
    client = scope.defer(await connectClient(gw.url, null), (c) => c.close().catch(() => undefined));
  });
  after(() => scope.close());

  it('drains: the in-flight slow_echo completes, initialize gets 503, exit code 0, STDIO child gone', async () => {
    const [childPid] = findPids(stdioMarker);
    assert.ok(childPid, 'the STDIO child is running');
    assert.equal(parentPid(childPid), gw.process.pid);

    const nonce = `drain-${Math.random().toString(36).slice(2)}`;
    const started = Date.now();
    const inflight = client.callTool({ name: 'web__slow_echo', arguments: { text: nonce, ms: 1500 } });
    // Signal only once the call has reached the upstream, so it is truly in flight.
    await waitFor(() => existsSync(httpRecord) && readFileSync(httpRecord, 'utf8').includes(nonce), 'slow_echo to reach the upstream', 3000);
    process.kill(gw.process.pid, 'SIGTERM');

    const init = () =>
      rpc(gw.url, null, undefined, {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'late', version: '1' } },
      });
    const refused = (await waitFor(async () => {
      const r = await init();
      return r.status === 503 ? r : null;
    }, 'initialize to be refused with 503 during drain', 1000)) as RawResponse;
    assert.equal(refused.json.error.code, -32016);
    assert.equal(refused.headers['mcp-session-id'], undefined, 'no session is created while draining');
    const ready = await raw(`${gw.base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.json.draining, true);

    const result = await inflight;
    assert.equal(textOf(result), nonce, 'the in-flight call completes with its own result');
    assert.ok(Date.now() - started >= 1400);

    const exit = await Promise.race([gw.process.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 8000).unref())]);
    assert.deepEqual(exit, { code: 0, signal: null });
    await waitFor(() => !pidAlive(childPid), `STDIO child ${childPid} to be gone`, 3000);
  });
});
