// The PostgreSQL audit sink, against a real server: every decision lands in the table and in the file with the same
// ids, through an outage (spooled to disk, delivered on recovery, nothing lost); the table verifies, and an UPDATE,
// a DELETE, a cut tail or a wrong key is detected; a full spool under fail-closed refuses new calls.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAuditPostgres, type AuditPostgres } from '../helpers/audit-pg.js';
import { auditBacklog, driveCalls, verifyTrail } from '../helpers/audit-trail.js';
import { readAudit } from '../helpers/audit.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { rawCall, rawSession } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, type HttpUpstream } from '../helpers/upstreams.js';

const KEY_ENV = 'PORTCULLIS_IT_AUDIT_PG_KEY';
const WRONG_KEY_ENV = 'PORTCULLIS_IT_AUDIT_PG_WRONG_KEY';
const URL_ENV = 'PORTCULLIS_IT_AUDIT_PG_URL';
const TABLE = 'portcullis_audit';

describe('audit hash chain: PostgreSQL sink', () => {
  const scope = new Scope();
  let dir: string;
  let db: AuditPostgres;
  let up: HttpUpstream;
  let issuer: TokenIssuer;
  let bundle: string;
  let token: string;
  let gw: RunningGateway;
  let auditFile: string;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    db = scope.defer(await startAuditPostgres(), (d) => d.destroy());
    process.env[URL_ENV] = db.url;
    process.env[KEY_ENV] = randomBytes(32).toString('hex');
    process.env[WRONG_KEY_ENV] = randomBytes(32).toString('hex');
    bundle = buildAllowAllBundle(dir);
    up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    issuer = await createIssuer(dir);
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    auditFile = join(dir, 'audit', 'decisions.jsonl');
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle },
        servers: [httpServer('web', up.url)],
        audit: {
          file: auditFile,
          postgres: { urlEnv: URL_ENV, table: TABLE },
          checkpoint: { keyEnv: KEY_ENV, everyRecords: 10, everySeconds: 3600 },
          batch: { maxRecords: 5, maxDelayMs: 10 },
          spool: { dir: join(dir, 'spool') },
        },
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  const pgRecords = async (table = TABLE) =>
    (await db.sql<{ decision_id: string }>(`SELECT decision_id FROM ${table} WHERE entry_type = 'record' ORDER BY seq`)).map((r) => r.decision_id);

  it('PostgreSQL stopped mid-traffic: calls are still answered, records spool to disk, and all arrive once it is back', async () => {
    for (const a of await driveCalls(gw.url, token, 10, 'before')) assert.ok(a.json?.result, a.text);
    await waitFor(async () => (await pgRecords()).length >= 11, 'the first records in PostgreSQL', 10_000);

    await db.halt();
    const during = await driveCalls(gw.url, token, 15, 'during');
    for (const a of during) assert.ok(a.json?.result, `answered while PostgreSQL is down: ${a.text}`);
    const spooled = await waitFor(async () => {
      const b = await auditBacklog(gw.base);
      return b.sinks.postgres!.spooled > 0 && b.records >= 16 ? b : null;
    }, 'records in the spool', 10_000);
    assert.equal(spooled.sinks.postgres!.state, 'retrying');
    assert.ok(spooled.bytes > 0);
    assert.equal(spooled.sinks.file!.state, 'ok', 'the file sink is unaffected');
    assert.equal(spooled.sinks.file!.spooled, 0);

    await db.resume();
    await waitFor(async () => (await auditBacklog(gw.base)).records === 0, 'the backlog to drain', 20_000, 200);
    for (const a of await driveCalls(gw.url, token, 5, 'after')) assert.ok(a.json?.result, a.text);
    await gw.stop();

    const inTable = await pgRecords();
    const inFile = readAudit(auditFile).filter((r) => r.type !== 'checkpoint').map((r) => r.decision_id);
    assert.equal(inTable.length, 33, '30 calls and 3 lists');
    assert.equal(new Set(inTable).size, inTable.length, 'no record delivered twice');
    assert.deepEqual([...inTable].sort(), [...inFile].sort(), 'the table and the file hold the same decisions');
    // Order survives the outage: spooled records were delivered before anything recorded after them.
    assert.deepEqual(inTable, inFile);

    const v = await verifyTrail(['--postgres-env', URL_ENV, '--table', TABLE, '--key-env', KEY_ENV]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(v.result!.records, 33);
    const f = await verifyTrail(['--file', auditFile, '--key-env', KEY_ENV]);
    assert.equal(f.code, 0, f.stdout + f.stderr);
  });

  /** A copy of the audit table to tamper with. */
  async function copyTable(name: string): Promise<string> {
    await db.sql(`DROP TABLE IF EXISTS ${name}`);
    await db.sql(`CREATE TABLE ${name} AS SELECT * FROM ${TABLE}`);
    return name;
  }
  const verifyTable = (table: string, key = KEY_ENV) => verifyTrail(['--postgres-env', URL_ENV, '--table', table, '--key-env', key]);

  it('an UPDATEd row is named by its seq, whether the entry or only a column was changed', async () => {
    const t = await copyTable('tamper_update');
    const [row] = await db.sql<{ seq: string; decision_id: string }>(`SELECT seq, decision_id FROM ${t} WHERE entry_type = 'record' AND seq > 3 ORDER BY seq LIMIT 1`);
    await db.sql(`UPDATE ${t} SET entry = replace(entry, '"outcome":"allow"', '"outcome":"deny"') WHERE seq = $1`, [row!.seq]);
    const v = await verifyTable(t);
    assert.equal(v.code, 1, v.stdout);
    assert.equal(v.result!.problem!.where, `row seq=${row!.seq}`);
    assert.equal(v.result!.problem!.decision_id, row!.decision_id);
    assert.match(v.result!.problem!.reason, /content does not match its hash: the entry was edited/);

    const t2 = await copyTable('tamper_column');
    await db.sql(`UPDATE ${t2} SET decision_id = 'someone-else' WHERE seq = $1`, [row!.seq]);
    const v2 = await verifyTable(t2);
    assert.equal(v2.code, 1);
    assert.equal(v2.result!.problem!.where, `row seq=${row!.seq}`);
    assert.match(v2.result!.problem!.reason, /column\(s\) decision_id differ from the stored entry/);
  });

  it('a DELETEd row is named: the row after the gap', async () => {
    const t = await copyTable('tamper_delete');
    await db.sql(`DELETE FROM ${t} WHERE seq = 7`);
    const v = await verifyTable(t);
    assert.equal(v.code, 1, v.stdout);
    assert.equal(v.result!.problem!.where, 'row seq=8');
    assert.match(v.result!.problem!.reason, /1 entry is missing before it: seq jumps from 6/);
  });

  it('rows cut off the end are detected, and a wrong key is refused', async () => {
    const t = await copyTable('tamper_tail');
    const [last] = await db.sql<{ seq: string }>(`SELECT max(seq)::text AS seq FROM ${t}`);
    await db.sql(`DELETE FROM ${t} WHERE seq >= $1::bigint - 1`, [last!.seq]);
    const v = await verifyTable(t);
    assert.equal(v.code, 1, v.stdout);
    assert.match(v.result!.problem!.reason, /(not covered by a checkpoint|not a closing one)/);

    const w = await verifyTable(TABLE, WRONG_KEY_ENV);
    assert.equal(w.code, 1, w.stdout);
    assert.match(w.result!.problem!.reason, /checkpoint made with another key/);
  });

  it('a gateway stopped while PostgreSQL is down keeps the records in its spool and delivers them at its next start', async () => {
    const table = 'audit_restart';
    const cfg = {
      auth: issuer.authConfig(),
      policy: { bundle },
      servers: [httpServer('web', up.url)],
      audit: {
        postgres: { urlEnv: URL_ENV, table },
        checkpoint: { keyEnv: KEY_ENV, everyRecords: 100, everySeconds: 3600 },
        batch: { maxRecords: 5, maxDelayMs: 5 },
        spool: { dir: join(dir, 'spool-restart') },
      },
    };
    const g1 = await startGateway(dir, cfg, 'restart.yaml');
    try {
      for (const a of await driveCalls(g1.url, token, 3, 'first run')) assert.ok(a.json?.result, a.text);
      await waitFor(async () => (await pgRecords(table).catch(() => [])).length === 4, 'the first run in PostgreSQL', 10_000);
      await db.halt();
      for (const a of await driveCalls(g1.url, token, 5, 'unreachable')) assert.ok(a.json?.result, a.text);
      await waitFor(async () => (await auditBacklog(g1.base)).sinks.postgres!.spooled === 6, 'six records spooled', 10_000);
    } finally {
      await g1.stop();
      await db.resume();
    }
    const g2 = scope.defer(await startGateway(dir, cfg, 'restart.yaml'), (x) => x.stop());
    await waitFor(async () => (await auditBacklog(g2.base)).records === 0, 'the old spool delivered', 15_000, 200);
    for (const a of await driveCalls(g2.url, token, 2, 'second run')) assert.ok(a.json?.result, a.text);
    await g2.stop();
    const inTable = await pgRecords(table);
    assert.equal(inTable.length, 4 + 6 + 3);
    assert.equal(new Set(inTable).size, inTable.length);
    const v = await verifyTable(table);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  it('spool full under fail-closed: new calls are refused with a clear error until PostgreSQL is back', async (t) => {
    const table = 'audit_spool_full';
    const g = scope.defer(
      await startGateway(
        dir,
        {
          auth: issuer.authConfig(),
          policy: { bundle },
          servers: [httpServer('web', up.url)],
          audit: {
            postgres: { urlEnv: URL_ENV, table },
            checkpoint: { keyEnv: KEY_ENV, everyRecords: 100, everySeconds: 3600 },
            batch: { maxRecords: 5, maxDelayMs: 5 },
            spool: { dir: join(dir, 'spool-full'), maxBytes: 4096 },
          },
        },
        'full.yaml',
      ),
      (x) => x.stop(),
    );
    const sid = await rawSession(g.url, token);
    assert.ok((await rawCall(g.url, token, sid, 'web__echo', { text: 'first' })).json.result);
    await waitFor(async () => (await db.sql(`SELECT 1 FROM ${table} LIMIT 1`).catch(() => [])).length > 0, 'the table', 10_000);

    await db.halt();
    let answered = 1;
    let refusal: { code: number; message: string } | null = null;
    for (let i = 0; i < 200 && !refusal; i++) {
      const r = await rawCall(g.url, token, sid, 'web__echo', { text: `filling the spool ${i}` });
      if (r.json.error) refusal = r.json.error as { code: number; message: string };
      else answered++;
      // Records reach the spool after batch.maxDelayMs; give the worker a moment so the refusal comes promptly.
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.ok(refusal, `a call was refused (answered ${answered})`);
    t.diagnostic(`${answered} calls answered before the first refusal (spool.maxBytes 4096)`);
    assert.equal(refusal.code, -32019);
    assert.match(refusal.message, /Audit trail unavailable: an audit sink is down and its spool is full, so new calls are refused until it recovers/);
    const full = await auditBacklog(g.base);
    assert.equal(full.sinks.postgres!.full, true);
    assert.ok(full.sinks.postgres!.spoolBytes <= 4096, `the spool stays within its bound (${full.sinks.postgres!.spoolBytes})`);

    await db.resume();
    await waitFor(async () => (await auditBacklog(g.base)).records === 0, 'the backlog to drain', 20_000, 200);
    const again = await rawCall(g.url, token, sid, 'web__echo', { text: 'accepted again' });
    assert.ok(again.json.result, again.text);
    answered++;
    await g.stop();

    const inTable = await pgRecords(table);
    assert.equal(inTable.length, answered, 'every answered call is audited; refused calls never ran');
    const v = await verifyTable(table);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
});
