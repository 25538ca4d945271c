// The audit sink worker with the real file sink and spool on real files: the last-resort flushSync (queued, spooled
// and in-flight records end up in the file exactly once, with a closing checkpoint, and the trail verifies), and the
// fail-closed latch that admits calls again as soon as the sink takes a write, while records keep arriving.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createAuditSink, type AuditRecord } from './audit.js';
import { keyId, type CheckpointReason } from './chain.js';
import { FileSink } from './file-sink.js';
import type { ChainedSink } from './sink.js';
import { SinkWorker, type WorkerLog } from './sink-worker.js';
import { Spool, SpoolBudget } from './spool.js';
import { verifyFiles } from './verify.js';

const KEY = 'unit-test-checkpoint-key';
const SILENT: WorkerLog = { info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'portcullis-audit-unit-'));
  dirs.push(d);
  return d;
}

function record(i: number): AuditRecord {
  return { decision_id: randomUUID(), action: 'tools/call', outcome: 'allow', reasons: [], subject: null, tool: 'echo', arguments: { i }, latency_ms: { total: 1 } };
}

/** The file's entries, parsed (a torn line throws). */
function entries(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function recordsOf(file: string): number[] {
  return entries(file)
    .filter((e) => e.type !== 'checkpoint')
    .map((e) => (e.arguments as { i: number }).i);
}

function fileSink(file: string): FileSink {
  return new FileSink({ file, maxBytes: 0, maxFiles: 0, signer: { key: KEY, keyId: keyId(KEY), writer: 'unit' }, warn() {} });
}

function worker(sink: ChainedSink, spoolDir: string, over: { maxDelayMs?: number } = {}): SinkWorker {
  return new SinkWorker({
    sink,
    spool: new Spool(spoolDir, sink.name, new SpoolBudget(1024 * 1024)),
    maxRecords: 10,
    maxDelayMs: 1,
    checkpoint: { everyRecords: 1000, everySeconds: 3600 },
    onFull: 'fail-closed',
    log: SILENT,
    ...over,
  });
}

async function assertIntact(file: string, n: number): Promise<void> {
  const v = await verifyFiles(file, { key: KEY });
  assert.ok(v.ok, JSON.stringify(v.problem));
  assert.equal(v.records, n);
  const last = entries(file).at(-1)!;
  assert.equal(last.type, 'checkpoint');
  assert.equal(last.reason, 'close');
  assert.deepEqual(recordsOf(file), Array.from({ length: n }, (_, i) => i), 'every record once, in order');
}

describe('audit flushSync (the last resort before exit)', () => {
  it('writes what is still queued and the closing checkpoint, synchronously: the trail verifies', async () => {
    const d = tmp();
    const file = join(d, 'audit.jsonl');
    // A long batch delay: nothing is written before the flush.
    const audit = createAuditSink({ file, stdout: false, checkpoint: { key: KEY, everyRecords: 1000, everySeconds: 3600 }, batch: { maxRecords: 500, maxDelayMs: 60_000 }, spool: { dir: join(d, 'spool'), maxBytes: 1 << 20 } });
    for (let i = 0; i < 25; i++) audit.record(record(i));
    assert.deepEqual(audit.flushSync(), { written: 25, spooled: 0, lost: 0 });
    // No await happened between the flush and this read: the flush is synchronous.
    await assertIntact(file, 25);
    await audit.close(); // after the flush: nothing more, and no second closing checkpoint
    audit.record(record(99));
    await assertIntact(file, 25);
  });

  it('takes over a write that is waiting for its fdatasync: counted once, not written twice', async () => {
    const d = tmp();
    const file = join(d, 'audit.jsonl');
    const inner = fileSink(file);
    let w: SinkWorker;
    let pending: Promise<void> | null = null;
    // The real file sink; the flush is called at the worst moment: right after the first batch reached the file,
    // while its fdatasync is still running.
    const sink: ChainedSink = {
      name: 'file',
      write(records, cp, landed) {
        const p = inner.write(records, cp, landed);
        if (!pending) {
          pending = p.catch(() => undefined);
          w.flushSync();
        }
        return p;
      },
      close: () => inner.close(),
      takeOverSync: () => inner.takeOverSync(),
      writeSync: (r: readonly string[], cp: CheckpointReason | null) => inner.writeSync(r, cp),
    };
    w = worker(sink, join(d, 'spool'));
    for (let i = 0; i < 25; i++) w.enqueue(JSON.stringify(record(i)));
    await sleep(50);
    assert.ok(pending, 'the first batch was written');
    await pending;
    await sleep(20);
    await assertIntact(file, 25);
  });

  it('delivers the spool first, then memory, in order, after a sink outage', async () => {
    const d = tmp();
    const file = join(d, 'audit.jsonl');
    const w = worker(fileSink(file), join(d, 'spool'));
    mkdirSync(file); // the sink goes down: its path is a directory (EISDIR)
    for (let i = 0; i < 15; i++) w.enqueue(JSON.stringify(record(i)));
    await sleep(100);
    assert.ok(w.state().spooled > 0, 'records went to the spool');
    for (let i = 15; i < 30; i++) w.enqueue(JSON.stringify(record(i)));
    rmdirSync(file); // back
    const r = w.flushSync();
    assert.deepEqual(r, { written: 30, spooled: 0, lost: 0 });
    await assertIntact(file, 30);
    assert.equal(w.state().spooled, 0);
  });

  it('a sink that fails during the flush: the queue goes to the spool (over its budget), nothing is lost', async () => {
    const d = tmp();
    const file = join(d, 'audit.jsonl');
    const spoolDir = join(d, 'spool');
    const w = worker(fileSink(file), spoolDir, { maxDelayMs: 60_000 });
    mkdirSync(file);
    for (let i = 0; i < 12; i++) w.enqueue(JSON.stringify(record(i)));
    assert.deepEqual(w.flushSync(), { written: 0, spooled: 12, lost: 0 });
    // The next start finds them and delivers them.
    rmdirSync(file);
    const next = worker(fileSink(file), spoolDir);
    await next.close();
    await assertIntact(file, 12);
  });
});

describe('spool under the last-resort flush', () => {
  it('an async append still in flight when the spool is frozen does not commit a segment (its records stay queued)', async () => {
    const d = tmp();
    const spool = new Spool(d, 'file', new SpoolBudget(1 << 20));
    const p = spool.append([JSON.stringify(record(0)), JSON.stringify(record(1))]);
    spool.freeze();
    assert.equal(await p, false);
    assert.deepEqual(spool.size(), { records: 0, bytes: 0, segments: 0 });
    assert.deepEqual(readdirSync(join(d, 'file')), [], 'no segment and no temporary file left');
  });

  it('removes segments by identity: a late removal of a segment already delivered takes nothing else', async () => {
    const d = tmp();
    const spool = new Spool(d, 'file', new SpoolBudget(1 << 20));
    await spool.append([JSON.stringify(record(0))]);
    await spool.append([JSON.stringify(record(1))]);
    const first = spool.peekSync(1);
    spool.removeSync(first.segments);
    await spool.remove(first.segments); // the async loop's removal, arriving late
    assert.equal(spool.size().records, 1);
    assert.equal((JSON.parse(spool.peekSync(10).records[0]!) as { arguments: { i: number } }).arguments.i, 1);
  });
});

describe('fail-closed recovery', () => {
  it('accepting() turns true at the first write the sink takes, while records keep arriving; all land once, in order', async () => {
    const d = tmp();
    const file = join(d, 'audit.jsonl');
    const sink = fileSink(file);
    mkdirSync(file); // down
    const w = new SinkWorker({
      sink,
      spool: new Spool(join(d, 'spool'), 'file', new SpoolBudget(2048)),
      maxRecords: 10,
      maxDelayMs: 1,
      checkpoint: { everyRecords: 1000, everySeconds: 3600 },
      onFull: 'fail-closed',
      log: SILENT,
    });
    let n = 0;
    while (w.accepting()) {
      w.enqueue(JSON.stringify(record(n++)));
      await sleep(2);
      assert.ok(n < 2000, 'the spool fills');
    }
    assert.equal(w.state().full, true);
    // Stays refused while the sink is down, however the queue moves.
    await sleep(1500);
    assert.equal(w.accepting(), false);
    rmdirSync(file);
    const back = Date.now();
    // Traffic continues (records of calls that were already running, and then new ones once admitted).
    let recovered = 0;
    while (Date.now() - back < 3000) {
      w.enqueue(JSON.stringify(record(n++)));
      if (!recovered && w.accepting()) recovered = Date.now() - back;
      await sleep(1);
    }
    assert.ok(recovered > 0 && recovered <= 900, `accepting again ${recovered} ms after the sink came back (retry capped at 0.5 s ±20 % while refusing)`);
    await w.close();
    await assertIntact(file, n);
  });
});

describe('file sink: a write cut short by a full disk', () => {
  it('is undone, so the retry neither tears nor repeats a line (real 1 MB tmpfs)', async (t) => {
    const d = tmp();
    const mnt = join(d, 'disk');
    mkdirSync(mnt);
    const { spawnSync } = await import('node:child_process');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): ${m.stderr.trim()}`);
    try {
      const { writeFileSync, statfsSync, statSync, unlinkSync } = await import('node:fs');
      const fs = statfsSync(mnt);
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(fs.bavail * fs.bsize - 8192));
      const file = join(mnt, 'audit.jsonl');
      const sink = fileSink(file);
      const batch = (from: number, k: number) => Array.from({ length: k }, (_, i) => JSON.stringify({ ...record(from + i), pad: 'x'.repeat(500) }));
      await sink.write(batch(0, 5), null); // ~3.5 KB: fits
      const before = statSync(file).size;
      const big = batch(5, 20); // ~14 KB: cut off by ENOSPC part way
      await assert.rejects(sink.write(big, null), /ENOSPC/);
      assert.equal(statSync(file).size, before, 'the partial write was cut back');
      unlinkSync(join(mnt, 'filler'));
      await sink.write(big, 'close');
      await assertIntact(file, 25);
    } finally {
      spawnSync('umount', ['-l', mnt]);
    }
  });
});
