import { startAuditPostgres } from '../helpers/audit-pg.js';
import { createAuditSink } from '../../src/audit/index.js';
const db = await startAuditPostgres();
try {
  const a = createAuditSink({ stdout: false, postgres: { url: db.url, table: 'portcullis_audit' }, checkpoint: { key: 'k', everyRecords: 3, everySeconds: 60 }, batch: { maxRecords: 2, maxDelayMs: 10 }, spool: { dir: '/tmp/auditdemo/spool2', maxBytes: 100000 }, log: console });
  for (let i = 0; i < 7; i++) { a.record({ decision_id: 'd' + i, action: 'tools/call', outcome: 'allow', reasons: [], subject: null, latency_ms: { total: 1 } }); await new Promise(r => setTimeout(r, 30)); }
  await new Promise(r => setTimeout(r, 300));
  console.log(await db.sql('SELECT seq, entry_type, decision_id, left(prev_hash,8) p, left(hash,8) h FROM portcullis_audit ORDER BY seq'));
  await a.close();
} finally { await db.destroy(); }
