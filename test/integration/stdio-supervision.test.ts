// STDIO upstream supervision: a crash fails the in-flight call clearly, the process is restarted after backoff,
// and later calls succeed on the new child.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, mcpError, raw, textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { findPids, parentPid, pidAlive, waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { stdioServer } from '../helpers/upstreams.js';

// Constant backoff (initial == max) keeps the timing of both tests independent of their order.
const BACKOFF_MS = 1000;

describe('STDIO upstream supervision', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let client: Client;
  let marker: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    // The record path is on the child's command line, so /proc finds exactly this test's child.
    marker = join(dir, 'stdio-record.jsonl');
    gw = scope.defer(
      await startGateway(dir, {
        auth: { mode: 'none' },
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [stdioServer('local', { args: ['--record', marker], restart: { initialDelayMs: BACKOFF_MS, maxDelayMs: BACKOFF_MS } })],
      }),
      (g) => g.stop(),
    );
    client = scope.defer(await connectClient(gw.url, null), (c) => c.close());
  });
  after(() => scope.close());

  it('crash fails the call with -32014 naming the upstream; after backoff the child is restarted and calls succeed', async () => {
    const [firstPid, ...others] = findPids(marker);
    assert.ok(firstPid, 'the STDIO child is running');
    assert.equal(others.length, 0);
    assert.equal(parentPid(firstPid), gw.process.pid, 'the child belongs to the gateway');
    assert.equal(textOf(await client.callTool({ name: 'local__echo', arguments: { text: 'before' } })), 'before');

    const e = await mcpError(() => client.callTool({ name: 'local__crash', arguments: {} }));
    assert.equal(e.code, -32014);
    assert.match(e.message, /Upstream 'local' unavailable/);
    assert.deepEqual((e.data as { server: string }).server, 'local');
    await waitFor(() => !pidAlive(firstPid), 'the crashed child to be gone', 3000);

    const after = await waitFor(
      async () => {
        try {
          return textOf(await client.callTool({ name: 'local__echo', arguments: { text: 'after' } }));
        } catch {
          return null;
        }
      },
      'a call to succeed on the restarted child',
      5000,
      50,
    );
    assert.equal(after, 'after');
    const [secondPid] = findPids(marker);
    assert.ok(secondPid && secondPid !== firstPid, 'a new child process');
    assert.equal(parentPid(secondPid), gw.process.pid);
    const rz = await raw(`${gw.base}/readyz`);
    assert.equal(rz.status, 200);
    assert.equal(rz.json.upstreams.local, 'ok');
  });

  it('a crashed child is not respawned before the configured backoff, even when calls arrive meanwhile', async () => {
    const [pidBefore] = findPids(marker);
    assert.ok(pidBefore);
    await mcpError(() => client.callTool({ name: 'local__crash', arguments: {} }));
    const crashedAt = Date.now();
    // A call right after the crash: the restart is not due yet, so it must fail fast and clearly, not spawn a child.
    const early: unknown = await client.callTool({ name: 'local__echo', arguments: { text: 'too early' } }).catch((e: unknown) => e);
    const earlyAt = Date.now() - crashedAt;
    assert.ok(
      early instanceof McpError,
      `a call ${earlyAt} ms after the crash respawned the child and ran, ignoring the ${BACKOFF_MS} ms restart backoff (result: ${JSON.stringify(early)})`,
    );
    assert.equal(early.code, -32014);
    assert.match(early.message, /Upstream 'local' unavailable/);
    assert.ok(earlyAt < BACKOFF_MS / 2, `the early call should fail at once (took ${earlyAt} ms)`);
    const spawned = findPids(marker).filter((p) => p !== pidBefore && pidAlive(p));
    assert.deepEqual(spawned, [], `no new child may start within the ${BACKOFF_MS} ms backoff (started ${spawned.length})`);
    await waitFor(
      async () => textOf(await client.callTool({ name: 'local__echo', arguments: { text: 'later' } })) === 'later',
      'the restarted child to answer',
      BACKOFF_MS + 4000,
      100,
    );
    assert.ok(Date.now() - crashedAt >= BACKOFF_MS * 0.9, 'the restart waited for the backoff');
  });
});
