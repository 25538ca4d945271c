// Hardening, the audit rows: the audit file on a full disk never tears or duplicates a record (row 7); after an
// audit outage under load, fail-closed admits calls again as soon as the sink takes writes (row 8); /readyz is not
// ready while audit refuses calls (row 20). Each ends with `audit verify` and one record per answered call.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmdirSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { readAudit } from '../helpers/audit.js';
import { auditBacklog, verifyTrail } from '../helpers/audit-trail.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { raw, rawCall, rawSession } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { httpServer, startHttpUpstream, type HttpUpstream } from '../helpers/upstreams.js';

const KEY_ENV = 'PORTCULLIS_IT_HARDENING_AUDIT_KEY';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Call {
  t0: number;
  t1: number;
  text: string;
  ok: boolean;
  /** JSON-RPC error code; 0 for a transport failure. */
  code?: number;
}

/** `concurrency` clients, each on its own session, calling web__echo back to back until `stop()`. */
async function load(url: string, concurrency: number, tag: string, stop: () => boolean, calls: Call[], pad = ''): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const sid = await rawSession(url, null);
      for (let i = 0; !stop(); i++) {
        const text = `${tag} ${w}-${i}${pad}`;
        const t0 = Date.now();
        try {
          const r = await rawCall(url, null, sid, 'web__echo', { text });
          calls.push({ t0, t1: Date.now(), text, ok: Boolean(r.json?.result), code: r.json?.error?.code });
        } catch {
          calls.push({ t0, t1: Date.now(), text, ok: false, code: 0 });
        }
      }
    }),
  );
}

/**
 * Every call that was answered (not refused by audit) has exactly one record, and no record is unaccounted for:
 * compared by the call's unique argument text, which the allow-all policy leaves unredacted.
 */
function assertOneRecordPerCall(file: string, calls: Call[]): { records: number; refused: number } {
  const entries = readAudit(file); // throws on any line that is not a JSON record: a torn line fails here
  const records = entries.filter((e) => e.type !== 'checkpoint');
  const ids = records.map((r) => r.decision_id);
  assert.equal(new Set(ids).size, ids.length, 'no decision_id appears twice');
  const seqs = entries.map((e) => e.seq as number);
  assert.equal(new Set(seqs).size, seqs.length, 'no seq appears twice');
  const texts = records.filter((r) => r.action === 'tools/call').map((r) => (r.arguments as { text: string }).text);
  const answered = calls.filter((c) => c.code !== -32019).map((c) => c.text);
  assert.equal(calls.filter((c) => c.code === 0).length, 0, 'no transport failures');
  assert.deepEqual([...texts].sort(), [...answered].sort(), 'exactly one record per answered call, none for a refused one');
  return { records: records.length, refused: calls.length - answered.length };
}

describe('hardening: audit', () => {
  const scope = new Scope();
  let dir: string;
  let up: HttpUpstream;
  let bundle: string;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    process.env[KEY_ENV] = randomBytes(32).toString('hex');
    bundle = buildAllowAllBundle(dir);
    up = scope.defer(await startHttpUpstream(), (u) => u.stop());
  });
  after(() => scope.close());

  const gatewayWith = async (name: string, audit: Record<string, unknown>): Promise<RunningGateway> =>
    scope.defer(
      await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle }, servers: [httpServer('web', up.url)], audit }, `${name}.yaml`),
      (g) => g.stop(),
    );

  it('row 7: the audit file on a full disk (a real 2 MB tmpfs): no torn line, no duplicate, every call recorded once, verify intact', async (t: TestContext) => {
    const mnt = join(dir, 'small-disk');
    mkdirSync(mnt);
    // A real filesystem that runs out of space: tmpfs writes as much as fits and then fails with ENOSPC, the partial
    // write the sink must undo. /dev/full would fail every write whole, which is not the case that tears records.
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(`cannot mount a 2 MB tmpfs (needs root or CAP_SYS_ADMIN): ${m.stderr.trim() || m.error?.message}`);
      return;
    }
    scope.defer(null, () => spawnSync('umount', ['-l', mnt]));
    // Leave ~48 KB free, so a few batches fit and then one is cut off part way.
    const fs = statfsSync(mnt);
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(fs.bavail * fs.bsize - 48 * 1024));
    const auditFile = join(mnt, 'decisions.jsonl');
    const gw = await gatewayWith('full-disk', {
      file: auditFile,
      checkpoint: { keyEnv: KEY_ENV, everyRecords: 200, everySeconds: 3600 },
      spool: { dir: join(dir, 'spool-full-disk') },
    });

    const calls: Call[] = [];
    let stop = false;
    const running = load(gw.url, 8, 'disk', () => stop, calls, ` ${'x'.repeat(400)}`);
    const failing = await waitFor(
      async () => {
        const s = (await auditBacklog(gw.base)).sinks.file!;
        return s.state === 'retrying' ? s : null;
      },
      'the audit file to run out of space',
      30_000,
      50,
    );
    assert.match(failing.lastError ?? '', /ENOSPC/);
    await sleep(2000); // several retries against the full disk, each one a partial write
    unlinkSync(filler);
    await sleep(1000);
    stop = true;
    await running;
    await waitFor(async () => (await auditBacklog(gw.base)).records === 0, 'the backlog to drain', 60_000, 100);
    await gw.stop();

    const v = await verifyTrail(['--file', auditFile, '--key-env', KEY_ENV]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const n = assertOneRecordPerCall(auditFile, calls);
    assert.equal(n.refused, 0, 'the spool took what the disk could not: no call was refused');
    assert.equal(v.result!.records, n.records);
    t.diagnostic(`${calls.length} calls, ${n.records} records, ${v.result!.checkpoints} checkpoints; trail verifies`);
  });

  it('rows 8 + 20: after a 10 s audit outage under load (c=24), calls are admitted again within seconds; /readyz follows; verify intact', async (t: TestContext) => {
    const auditFile = join(dir, 'outage', 'decisions.jsonl');
    const gw = await gatewayWith('outage', {
      file: auditFile,
      checkpoint: { keyEnv: KEY_ENV, everyRecords: 500, everySeconds: 3600 },
      // A small spool, so the outage fills it and fail-closed refuses calls.
      spool: { dir: join(dir, 'spool-outage'), maxBytes: 64 * 1024 },
      onFull: 'fail-closed',
    });

    const calls: Call[] = [];
    const ready: Array<{ t: number; status: number }> = [];
    let stop = false;
    const running = load(gw.url, 24, 'outage', () => stop, calls);
    const polling = (async () => {
      while (!stop) {
        const r = await raw(`${gw.base}/readyz`);
        ready.push({ t: Date.now(), status: r.status });
        await sleep(100);
      }
    })();
    await waitFor(() => existsSync(auditFile) || null, 'the audit file', 10_000);
    await sleep(1500);

    const restore = makeUnwritable(auditFile);
    scope.defer(null, restore);
    const outageStart = Date.now();
    t.diagnostic(`outage by ${restore.how}`);
    await waitFor(() => calls.some((c) => c.code === -32019) || null, 'a call refused by fail-closed', 15_000);
    await sleep(outageStart + 10_000 - Date.now());
    restore();
    const outageEnd = Date.now();
    await sleep(8000);
    stop = true;
    await Promise.all([running, polling]);

    const after = calls.filter((c) => c.t0 >= outageEnd);
    const firstOk = after.filter((c) => c.ok).sort((a, b) => a.t1 - b.t1)[0];
    assert.ok(firstOk, 'some call succeeded after the outage');
    const recoveryMs = firstOk.t1 - outageEnd;
    const late = after.filter((c) => c.t0 >= outageEnd + 3000);
    const lateRefused = late.filter((c) => !c.ok).length;
    const refusedDuring = calls.filter((c) => c.code === -32019 && c.t0 < outageEnd).length;
    const readyDuring = ready.filter((r) => r.t > outageStart && r.t < outageEnd);
    const readyAfter = ready.filter((r) => r.t >= outageEnd + 3000);
    const readyAgain = ready.find((r) => r.t >= outageEnd && r.status === 200);
    t.diagnostic(
      `recovery: first success ${recoveryMs} ms after the outage ended (/readyz 200 again after ${readyAgain ? readyAgain.t - outageEnd : '?'} ms); calls started 3 s+ after it: ${late.length - lateRefused}/${late.length} ok; ` +
        `during the outage ${refusedDuring} refused; /readyz 503 in ${readyDuring.filter((r) => r.status === 503).length}/${readyDuring.length} polls during, ` +
        `200 in ${readyAfter.filter((r) => r.status === 200).length}/${readyAfter.length} after`,
    );
    assert.ok(refusedDuring > 0, 'fail-closed refused calls during the outage');
    assert.ok(readyDuring.some((r) => r.status === 503), '/readyz said not ready while calls were refused');
    assert.ok(recoveryMs <= 2500, `calls are admitted again within 2.5 s of the sink taking writes (took ${recoveryMs} ms)`);
    assert.equal(lateRefused, 0, 'every call started 3 s after the outage succeeded');
    assert.ok(readyAfter.length > 0 && readyAfter.every((r) => r.status === 200), '/readyz is ready again');

    await waitFor(async () => (await auditBacklog(gw.base)).records === 0, 'the backlog to drain', 30_000, 100);
    await gw.stop();
    const v = await verifyTrail(['--file', auditFile, '--key-env', KEY_ENV]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const n = assertOneRecordPerCall(auditFile, calls);
    assert.equal(v.result!.records, n.records);
    t.diagnostic(`${calls.length} calls (${n.refused} refused), ${n.records} records, trail verifies`);
  });
});

/**
 * Makes the audit file unwritable for real: `chattr +i` (immutable, so even root's open for append fails with
 * EPERM). Where the filesystem has no immutable flag, the file is moved aside and a directory takes its name
 * (open fails with EISDIR). The returned function undoes it and may be called more than once.
 */
function makeUnwritable(file: string): (() => void) & { how: string } {
  const c = spawnSync('chattr', ['+i', file], { encoding: 'utf8' });
  if (c.status === 0) {
    let done = false;
    return Object.assign(
      () => {
        if (!done) spawnSync('chattr', ['-i', file]);
        done = true;
      },
      { how: 'chattr +i' },
    );
  }
  renameSync(file, `${file}.aside`);
  mkdirSync(file);
  let done = false;
  return Object.assign(
    () => {
      if (done) return;
      done = true;
      rmdirSync(file);
      renameSync(`${file}.aside`, file);
    },
    { how: `a directory in place of the file (chattr failed: ${c.stderr.trim()})` },
  );
}
