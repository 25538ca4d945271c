// Heap per idle session: the gateway (config B: JWT + RBAC bundle + audit) runs in this process, 1,000 sessions are
// opened over HTTP (initialize + notifications/initialized) and never used again; heapUsed after a full GC, before and
// after, gives KiB per session. The sessions are then DELETEd to see the heap come back.
//
//   node --expose-gc test/bench/heap.mjs '<json>'   json: {config (gateway config document), baseDir, token, sessions}
// Prints "RESULT <json>" as its last line.
import { startGateway } from '../../dist/app.js';
import { buildConfig } from '../../dist/config/index.js';
import { createLogger } from '../../dist/telemetry/logger.js';

if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
const cfg = JSON.parse(process.argv[2]);
const warnings = { maxListeners: 0 };
process.on('warning', (w) => {
  if (w.name === 'MaxListenersExceededWarning') warnings.maxListeners++;
});

async function fullGc() {
  // Several rounds with a turn of the event loop between: weak callbacks and finalizers get to run.
  for (let i = 0; i < 4; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 50));
  global.gc();
  return process.memoryUsage();
}

const gw = await startGateway(buildConfig(cfg.config, '<bench>', cfg.baseDir), createLogger('warn'));
const url = `${gw.url}/echo`;
const auth = { authorization: `Bearer ${cfg.token}` };

/** initialize + notifications/initialized; resolves the session id, or throws with what the gateway answered. */
async function open(i) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: `bench-heap-${i}`, version: '1.0.0' } },
    }),
  });
  const sid = res.headers.get('mcp-session-id');
  const text = await res.text();
  if (res.status !== 200 || !sid) throw new Error(`initialize: HTTP ${res.status} ${text.slice(0, 300)}`);
  const note = await fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await note.text();
  if (note.status !== 202) throw new Error(`notifications/initialized: HTTP ${note.status}`);
  return sid;
}

async function close(sid) {
  const res = await fetch(url, { method: 'DELETE', headers: { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
  await res.text();
}

/**
 * Opens n sessions with a few requests in flight at a time, as a crowd of clients would. Failures are counted, not
 * fatal; after `maxFailures` failures or `budgetMs` the rest is skipped (the report says how many were opened).
 */
async function openMany(n, { parallel = 8, maxFailures = 20, budgetMs = 180_000 } = {}) {
  const ids = [];
  const stats = { failures: 0, firstError: null, progress: [] };
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (;;) {
        if (stats.failures >= maxFailures || performance.now() - started > budgetMs) return;
        const i = next++;
        if (i >= n) return;
        try {
          ids.push(await open(i));
        } catch (err) {
          stats.failures++;
          stats.firstError ??= String(err?.message ?? err).slice(0, 400);
        }
        if ((i + 1) % 100 === 0) {
          const s = (performance.now() - started) / 1000;
          stats.progress.push({ attempted: i + 1, opened: ids.length, seconds: Number(s.toFixed(1)) });
          process.stderr.write(`heap: ${i + 1} initialize attempted, ${ids.length} sessions open, ${stats.failures} failed, ${s.toFixed(1)} s\n`);
        }
      }
    }),
  );
  stats.seconds = (performance.now() - started) / 1000;
  return { ids, stats };
}

// Warm-up: first-use allocations (JIT, lazily built objects, the client's own connection pool) are not per session.
const warm = await openMany(100);
for (const sid of warm.ids) await close(sid);

const before = await fullGc();
const { ids, stats } = await openMany(cfg.sessions);
const after = await fullGc();
for (const sid of ids) await close(sid);
const closed = await fullGc();
await gw.stop('bench done');

const kib = (b) => b / 1024;
process.stdout.write(
  `RESULT ${JSON.stringify({
    sessions: cfg.sessions,
    opened: ids.length,
    failures: stats.failures,
    firstError: stats.firstError,
    progress: stats.progress,
    heapBeforeMiB: before.heapUsed / 2 ** 20,
    heapAfterMiB: after.heapUsed / 2 ** 20,
    heapAfterCloseMiB: closed.heapUsed / 2 ** 20,
    heapPerSessionKiB: ids.length ? kib(after.heapUsed - before.heapUsed) / ids.length : null,
    rssDeltaMiB: (after.rss - before.rss) / 2 ** 20,
    externalPerSessionKiB: ids.length ? kib(after.external - before.external) / ids.length : null,
    heapAfterCloseVsBeforePct: ((closed.heapUsed - before.heapUsed) / before.heapUsed) * 100,
    initializePerSecond: ids.length / stats.seconds,
    warnings,
  })}\n`,
);
process.exit(0);
