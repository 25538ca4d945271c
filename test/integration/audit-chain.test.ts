// The file audit trail proves itself: a real run verifies (across rotated files), and an edited record, a deleted
// line, a cut tail, a rewritten chain and a wrong key are each detected, with the first broken entry named.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { entryHash } from '../../src/audit/chain.js';
import { driveCalls, verifyTrail } from '../helpers/audit-trail.js';
import { runCli, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const KEY_ENV = 'PORTCULLIS_IT_AUDIT_CHECKPOINT_KEY';
const WRONG_KEY_ENV = 'PORTCULLIS_IT_AUDIT_WRONG_KEY';

describe('audit hash chain: file sink', () => {
  const scope = new Scope();
  let dir: string;
  let auditFile: string;
  let gw: RunningGateway;
  let token: string;
  let copies = 0;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    process.env[KEY_ENV] = randomBytes(32).toString('hex');
    process.env[WRONG_KEY_ENV] = randomBytes(32).toString('hex');
    auditFile = join(dir, 'audit', 'decisions.jsonl');
    const bundle = buildAllowAllBundle(dir);
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle },
        servers: [httpServer('web', up.url)],
        audit: {
          file: auditFile,
          // Small files and frequent checkpoints, so one short run shows rotation and periodic checkpoints.
          maxFileBytes: 12_000,
          maxFiles: 0,
          checkpoint: { keyEnv: KEY_ENV, everyRecords: 10, everySeconds: 3600 },
          batch: { maxRecords: 4, maxDelayMs: 10 },
        },
      }),
      (g) => g.stop(),
    );
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
  });
  after(() => scope.close());

  /** The trail's files, oldest first (FILE.1, FILE.2, …, FILE). */
  function trailFiles(file: string): string[] {
    const base = basename(file);
    const rotated = readdirSync(dirname(file))
      .filter((n) => n.startsWith(`${base}.`) && /^\d+$/.test(n.slice(base.length + 1)))
      .sort((a, b) => Number(a.slice(base.length + 1)) - Number(b.slice(base.length + 1)));
    return [...rotated.map((n) => join(dirname(file), n)), file];
  }

  /** A copy of the whole trail to tamper with; returns the copy's current file. */
  function copyTrail(): string {
    const to = join(dir, `tamper-${++copies}`);
    mkdirSync(to, { recursive: true });
    for (const f of trailFiles(auditFile)) copyFileSync(f, join(to, basename(f)));
    return join(to, basename(auditFile));
  }

  const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l !== '');
  const write = (f: string, ls: string[]) => writeFileSync(f, ls.map((l) => `${l}\n`).join(''));

  it('a real run verifies: every record chained across rotated files, checkpoints every 10 records and at close', async () => {
    const answers = await driveCalls(gw.url, token, 40, 'chain');
    for (const a of answers) assert.ok(a.json?.result, a.text);
    await gw.stop(); // SIGTERM: the sink writes a closing checkpoint
    const files = trailFiles(auditFile);
    assert.ok(files.length >= 3, `the trail rotated (files: ${files.map((f) => basename(f)).join(', ')})`);

    const v = await verifyTrail(['--file', auditFile, '--key-env', KEY_ENV]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.ok(v.result!.ok);
    assert.equal(v.result!.records, 41, '40 calls and one tools/list, one record each');
    assert.ok(v.result!.checkpoints >= 4 + files.length - 1, `periodic, rotation and closing checkpoints (${v.result!.checkpoints})`);
    const all = files.flatMap(lines).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(all.at(-1)!.type, 'checkpoint');
    assert.equal(all.at(-1)!.reason, 'close');
    // Each rotated-in file opens with a signed anchor linking it to the previous one.
    for (const f of files.slice(1)) assert.equal((JSON.parse(lines(f)[0]!) as { reason?: string }).reason, 'rotate', basename(f));

    const human = await runCli(['audit', 'verify', '--file', auditFile, '--key-env', KEY_ENV]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^audit verify: OK: \d+ entries \(41 records, \d+ checkpoints\), seq 1\.\.\d+, checkpoints authenticated/);
  });

  it('an edited record is named by file and line, with its decision_id', async () => {
    const current = copyTrail();
    const first = `${current}.1`;
    const ls = lines(first);
    const i = ls.findIndex((l, k) => k >= 3 && !l.includes('"type":"checkpoint"'));
    const rec = JSON.parse(ls[i]!) as Record<string, unknown>;
    ls[i] = ls[i]!.replace('"outcome":"allow"', '"outcome":"deny"');
    assert.notEqual(ls[i], JSON.stringify(rec), 'the line was changed');
    write(first, ls);
    const v = await verifyTrail(['--file', current, '--key-env', KEY_ENV]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.equal(v.result!.problem!.where, `${basename(first)}:${i + 1}`);
    assert.equal(v.result!.problem!.decision_id, rec.decision_id);
    assert.match(v.result!.problem!.reason, /content does not match its hash: the entry was edited/);
  });

  it('a deleted line is named: the entry after the gap, with how many are missing', async () => {
    const current = copyTrail();
    const ls = lines(current);
    const victim = 4;
    const next = JSON.parse(ls[victim + 1]!) as { seq: number };
    ls.splice(victim, 1);
    write(current, ls);
    const v = await verifyTrail(['--file', current, '--key-env', KEY_ENV]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.equal(v.result!.problem!.where, `${basename(current)}:${victim + 1}`);
    assert.equal(v.result!.problem!.seq, next.seq);
    assert.match(v.result!.problem!.reason, /1 entry is missing before it: seq jumps from \d+ .* to \d+/);
  });

  it('a tail cut after a checkpoint is detected, whether the cut lands between checkpoints or on one', async () => {
    // Cut the closing checkpoint and the last record(s), so the trail ends with a record.
    const a = copyTrail();
    const la = lines(a);
    const isRecord = (l: string) => !l.includes('"type":"checkpoint"');
    const keep = la.findLastIndex((l, k) => k < la.length - 2 && isRecord(l) && isRecord(la[k - 1] ?? ''));
    write(a, la.slice(0, keep + 1));
    const va = await verifyTrail(['--file', a, '--key-env', KEY_ENV]);
    assert.equal(va.code, 1, va.stdout);
    assert.match(va.result!.problem!.reason, /record\(s\) after the last checkpoint .* are not covered by a checkpoint: the tail may have been cut off/);

    // Cut exactly after the last periodic checkpoint: every remaining entry verifies, but the trail is not closed.
    const b = copyTrail();
    const files = trailFiles(b);
    const k = files.findLastIndex((f) => lines(f).some((l) => l.includes('"reason":"count"')));
    assert.ok(k >= 0, 'a periodic checkpoint somewhere');
    const ls = lines(files[k]!);
    write(files[k]!, ls.slice(0, ls.findLastIndex((l) => l.includes('"reason":"count"')) + 1));
    for (const later of files.slice(k + 1)) unlinkSync(later); // the cut takes every newer file too
    const vb = await verifyTrail(['--file', b, '--key-env', KEY_ENV]);
    assert.equal(vb.code, 1, vb.stdout);
    assert.match(vb.result!.problem!.reason, /ends at a count checkpoint .* not a closing one: records after it may have been cut off/);
    // A trail that is still being written is open by nature: --open accepts it, with the warning.
    const open = await verifyTrail(['--file', b, '--key-env', KEY_ENV, '--open']);
    assert.equal(open.code, 0, open.stdout);
    assert.match(open.result!.warnings.join('\n'), /not a closing one/);
  });

  it('an edit hidden by re-hashing the rest of the chain fails at the next checkpoint, whose MAC needs the key', async () => {
    const current = copyTrail();
    const ls = lines(current);
    const i = ls.findIndex((l, k) => k >= 2 && !l.includes('"type":"checkpoint"'));
    let prev = (JSON.parse(ls[i - 1]!) as { hash: string }).hash;
    for (let k = i; k < ls.length; k++) {
      const e = JSON.parse(ls[k]!) as Record<string, unknown>;
      if (k === i) e.outcome = 'deny';
      e.prev_hash = prev;
      e.hash = entryHash(e);
      prev = e.hash as string;
      ls[k] = JSON.stringify(e);
    }
    write(current, ls);
    const v = await verifyTrail(['--file', current, '--key-env', KEY_ENV]);
    assert.equal(v.code, 1, v.stdout);
    assert.match(v.result!.problem!.reason, /checkpoint MAC does not verify/);
    assert.ok(v.result!.problem!.where.startsWith(basename(current)));
    // Without the key only the hash chain is checked, and the forgery would pass: hence the key is required.
    const noKey = await verifyTrail(['--file', current]);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--key-env NAME is required/);
  });

  it('a wrong key is refused, naming the first checkpoint it cannot authenticate', async () => {
    const v = await verifyTrail(['--file', auditFile, '--key-env', WRONG_KEY_ENV]);
    assert.equal(v.code, 1, v.stdout);
    assert.match(v.result!.problem!.reason, /checkpoint made with another key/);
  });

  it('retention: a trail whose oldest files are gone still verifies from the signed anchor that opens the oldest kept file', async () => {
    const current = copyTrail();
    unlinkSync(`${current}.1`);
    const v = await verifyTrail(['--file', current, '--key-env', KEY_ENV]);
    assert.equal(v.code, 0, v.stdout);
    assert.match(v.result!.warnings.join('\n'), /starts at seq \d+, anchored by a signed checkpoint/);
    // Removing the anchor line as well leaves a start nothing vouches for.
    const ls = lines(`${current}.2`);
    write(`${current}.2`, ls.slice(1));
    const cut = await verifyTrail(['--file', current, '--key-env', KEY_ENV]);
    assert.equal(cut.code, 1);
    assert.match(cut.result!.problem!.reason, /without the genesis entry or a signed checkpoint/);
  });
});
