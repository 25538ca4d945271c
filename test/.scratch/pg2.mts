import { startAuditPostgres } from '../helpers/audit-pg.js';
import { createAuditSink } from '../../src/audit/index.js';
const db = await startAuditPostgres();
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
try {
  const a = createAuditSink({ stdout: false, postgres: { url: db.url, table: 'portcullis_audit' }, checkpoint: { key: 'k', everyRecords: 3, everySeconds: 60 }, batch: { maxRecords: 2, maxDelayMs: 10 }, spool: { dir: '/tmp/auditdemo/spool3', maxBytes: 100000 }, log: console });
  const rec = (i: number) => a.record({ decision_id: 'd' + i, action: 'tools/call', outcome: 'allow', reasons: [], subject: null, latency_ms: { total: 1 } });
  for (let i = 0; i < 3; i++) { rec(i); await sleep(30); }
  await sleep(200);
  await db.halt();
  for (let i = 3; i < 9; i++) { rec(i); await sleep(30); }
  await sleep(500);
  console.log('halted', JSON.stringify(a.backlog()));
  await db.resume();
  for (let i = 0; i < 20; i++) { await sleep(500); console.log(JSON.stringify(a.backlog())); if (a.backlog().records === 0) break; }
  console.log(await db.sql('SELECT seq, entry_type, decision_id FROM portcullis_audit ORDER BY seq'));
  await a.close();
} finally { await db.destroy(); }
