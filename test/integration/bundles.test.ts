// Policy bundles at run time: hot swap by rename, corrupt bundles rejected (last good keeps serving), no bundle at
// start, a corrupt bundle at start, and an evaluation error; every failure denies with -32012 and a readable reason (C20).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBundle, makeTarGz, regoPolicy, replaceAtomically, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { raw, rawCall, rawList, rawSession, type RawResponse } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { directClient, httpServer, startHttpUpstream, type HttpUpstream } from '../helpers/upstreams.js';

const REASON_A = 'policy A allows everything';
const REASON_B = 'policy B denies everything';

interface Readyz {
  status: string;
  bundle: { revision: string; state: string } | null;
  bundleError: string | null;
}

async function readyz(gw: RunningGateway): Promise<{ status: number; body: Readyz }> {
  const r = await raw(`${gw.base}/readyz`);
  return { status: r.status, body: r.json as Readyz };
}

function errorOf(r: RawResponse): { code: number; message: string; data?: { reasons?: string[] } } | undefined {
  return r.json?.error;
}

describe('policy bundles', () => {
  const scope = new Scope();
  let dir: string;
  let up: HttpUpstream;
  const bundles: Record<'A' | 'B' | 'conflict', Buffer> = {} as never;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    const build = (name: string, rules: string) =>
      readFileSync(buildBundle(writePolicyDir(join(dir, `src-${name}`), { 'p.rego': regoPolicy(rules) }), join(dir, `${name}.tar.gz`), `rev-${name}`));
    bundles.A = build('A', `decision := {"outcome": "allow", "reasons": ["${REASON_A}"]}`);
    bundles.B = build('B', `decision := {"outcome": "deny", "reasons": ["${REASON_B}"]}`);
    // Two complete-rule values for one input: OPA's conflict error at evaluation time, only for echo("conflict").
    bundles.conflict = build(
      'conflict',
      `decision := {"outcome": "allow", "reasons": ["allowed"]} if input.tool.name != "nothing"
decision := {"outcome": "deny", "reasons": ["conflicting"]} if input.arguments.text == "conflict"`,
    );
    up = scope.defer(await startHttpUpstream(), (u) => u.stop());
  });
  after(() => scope.close());

  describe('hot reload of a running gateway', () => {
    const inner = new Scope();
    let gw: RunningGateway;
    let bundlePath: string;
    let sid: string;
    const echo = (text = 'hi') => rawCall(gw.url, null, sid, 'web__echo', { text });

    before(async () => {
      bundlePath = join(dir, 'live', 'policy.tar.gz');
      writePolicyDir(join(dir, 'live'), {});
      writeFileSync(bundlePath, bundles.A);
      gw = inner.defer(await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle: bundlePath }, servers: [httpServer('web', up.url)] }, 'live.yaml'), (g) => g.stop());
      sid = await rawSession(gw.url, null);
    });
    after(() => inner.close());

    it('a bundle renamed over the old one changes the next decision without a restart', async () => {
      const first = await echo();
      assert.equal(first.json.result?.content?.[0]?.text, 'hi', first.text);
      replaceAtomically(bundlePath, bundles.B);
      const denied = await waitFor(async () => {
        const r = await echo();
        return errorOf(r)?.code === -32010 ? r : null;
      }, 'the new bundle to deny', 3000);
      assert.deepEqual(errorOf(denied)?.data?.reasons, [REASON_B]);
      const rz = await readyz(gw);
      assert.equal(rz.status, 200);
      assert.equal(rz.body.bundle?.revision, 'rev-B');
    });

    it('a corrupt bundle (garbage bytes) is rejected: decisions unchanged, /readyz still 200 with bundleError set', async () => {
      replaceAtomically(bundlePath, randomBytes(4096));
      const rz = await waitFor(async () => {
        const r = await readyz(gw);
        return r.body.bundleError ? r : null;
      }, 'bundleError after a garbage bundle', 3000);
      assert.equal(rz.status, 200);
      assert.equal(rz.body.bundle?.revision, 'rev-B');
      assert.match(rz.body.bundleError!, /rejected/);
      const r = await echo();
      assert.equal(errorOf(r)?.code, -32010);
      assert.deepEqual(errorOf(r)?.data?.reasons, [REASON_B], 'the last good bundle keeps deciding');
    });

    it('a tar.gz without policy.wasm is rejected the same way', async () => {
      const noWasm = await makeTarGz({ '/data.json': '{}', '/.manifest': JSON.stringify({ revision: 'rev-nowasm' }) });
      replaceAtomically(bundlePath, noWasm);
      const rz = await waitFor(async () => {
        const r = await readyz(gw);
        return r.body.bundleError?.includes('policy.wasm') ? r : null;
      }, 'bundleError naming the missing policy.wasm', 3000);
      assert.equal(rz.status, 200);
      assert.equal(rz.body.bundle?.revision, 'rev-B');
      const r = await echo();
      assert.deepEqual(errorOf(r)?.data?.reasons, [REASON_B]);
    });

    it('a good bundle after a rejected one is activated and clears bundleError', async () => {
      replaceAtomically(bundlePath, bundles.A);
      await waitFor(async () => (await echo()).json.result?.content?.[0]?.text === 'hi', 'policy A to allow again', 3000);
      const rz = await readyz(gw);
      assert.equal(rz.body.bundleError, null);
      assert.equal(rz.body.bundle?.revision, 'rev-A');
    });

    it('C20: an evaluation error (conflicting values for a complete rule) denies with -32012 and a readable reason', async () => {
      replaceAtomically(bundlePath, bundles.conflict);
      await waitFor(async () => (await readyz(gw)).body.bundle?.revision === 'rev-conflict', 'the conflict bundle to load', 3000);
      const before = await countCalls(up);
      const r = await echo('conflict');
      assert.equal(errorOf(r)?.code, -32012, r.text);
      assert.match(errorOf(r)!.message, /policy unavailable/);
      assert.match(errorOf(r)!.message, /conflict/);
      assert.equal(await countCalls(up), before, 'a call whose decision failed must not reach the upstream');
      // The same bundle still decides other inputs normally.
      assert.equal((await echo('fine')).json.result?.content?.[0]?.text, 'fine');
    });
  });

  it('C20: no bundle at start: tools/list and tools/call are denied with -32012 and a readable reason; /readyz is 503', async () => {
    const gw = await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle: join(dir, 'does-not-exist.tar.gz') }, servers: [httpServer('web', up.url)] }, 'none.yaml');
    try {
      const sid = await rawSession(gw.url, null);
      const list = await rawList(gw.url, null, sid);
      assert.equal(errorOf(list)?.code, -32012, list.text);
      assert.match(errorOf(list)!.message, /no policy bundle loaded/);
      const before = await countCalls(up);
      const call = await rawCall(gw.url, null, sid, 'web__echo', { text: 'x' });
      assert.equal(errorOf(call)?.code, -32012, call.text);
      assert.match(errorOf(call)!.message, /no policy bundle loaded/);
      assert.equal(await countCalls(up), before);
      const rz = await readyz(gw);
      assert.equal(rz.status, 503);
      assert.equal(rz.body.bundle, null);
      assert.match(String(rz.body.bundleError), /not found/);
    } finally {
      await gw.stop();
    }
  });

  it('C20/C21: with no bundle, a call to a non-existent tool is refused like one to an existing tool (no catalog oracle)', async () => {
    const gw = await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle: join(dir, 'does-not-exist.tar.gz') }, servers: [httpServer('web', up.url)] }, 'none2.yaml');
    try {
      const sid = await rawSession(gw.url, null);
      const existing = await rawCall(gw.url, null, sid, 'web__echo', { text: 'x' });
      const missing = await rawCall(gw.url, null, sid, 'web__no_such_tool', { text: 'x' });
      assert.equal(errorOf(existing)?.code, -32012);
      assert.equal(errorOf(missing)?.code, errorOf(existing)?.code, `existing: ${existing.text}\nmissing: ${missing.text}`);
    } finally {
      await gw.stop();
    }
  });

  it('C20: a corrupt bundle at start denies everything with -32012; /readyz is 503 and says why', async () => {
    const path = join(dir, 'corrupt-at-start.tar.gz');
    writeFileSync(path, randomBytes(2048));
    const gw = await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle: path }, servers: [httpServer('web', up.url)] }, 'corrupt.yaml');
    try {
      const sid = await rawSession(gw.url, null);
      const list = await rawList(gw.url, null, sid);
      assert.equal(errorOf(list)?.code, -32012, list.text);
      const call = await rawCall(gw.url, null, sid, 'web__echo', { text: 'x' });
      assert.equal(errorOf(call)?.code, -32012, call.text);
      assert.match(errorOf(call)!.message, /policy unavailable \(no policy bundle loaded\)/);
      const rz = await readyz(gw);
      assert.equal(rz.status, 503);
      assert.match(String(rz.body.bundleError), /rejected/);
    } finally {
      await gw.stop();
    }
  });
});

async function countCalls(up: HttpUpstream): Promise<number> {
  const d = await directClient(up.url);
  try {
    return await d.countCalls();
  } finally {
    await d.close();
  }
}
