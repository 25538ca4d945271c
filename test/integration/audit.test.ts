// Audit trail (C24): every decision is exactly one JSON line with a unique decision_id; no token, arguments redacted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { auditLines, parseAuditLine } from '../helpers/audit.js';
import { rawCall, rawList, rawSession, rpc } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle, CONFLICT_REGO, VETO_REGO } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const CARD = '4111 1111 1111 1111';

describe('audit', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let auditFile: string;
  let token: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    auditFile = join(dir, 'audit', 'decisions.jsonl');
    const bundle = buildExampleBundle(dir, { 'veto.rego': VETO_REGO, 'conflict.rego': CONFLICT_REGO });
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, { auth: issuer.authConfig(), policy: { bundle }, servers: [httpServer('web', up.url, { trust: 'trusted' })], audit: { file: auditFile } }),
      (g) => g.stop(),
    );
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
  });
  after(() => scope.close());

  it('C24: N decisions (allow, deny, approval, eval error, 401) give N records with unique decision_ids, no token, redacted arguments', async () => {
    const sid = await rawSession(gw.url, token);
    const start = auditLines(auditFile).length;

    const allowed = await rawCall(gw.url, token, sid, 'web__echo', { text: `pay ${CARD}` });
    assert.ok(allowed.json.result, allowed.text);
    const denied = await rawCall(gw.url, token, sid, 'web__echo', { text: 'forbidden' });
    assert.equal(denied.json.error.code, -32010);
    const approval = await rawCall(gw.url, token, sid, 'web__delete_thing', { id: 'n1' });
    assert.equal(approval.json.error.code, -32011);
    const evalError = await rawCall(gw.url, token, sid, 'web__echo', { text: 'conflict' });
    assert.equal(evalError.json.error.code, -32012, evalError.text);
    const unauthenticated = await rpc(gw.url, null, sid, { jsonrpc: '2.0', id: 99, method: 'tools/list' });
    assert.equal(unauthenticated.status, 401);
    // A sentinel decision: records are appended in order, so once it is there every earlier record is too.
    assert.ok((await rawList(gw.url, token, sid)).json.result);

    // Five decisions plus the sentinel: wait for six new lines, then every one must be a JSON record.
    const lines = await waitFor(() => {
      const all = auditLines(auditFile).slice(start);
      return all.length >= 6 ? all : null;
    }, 'six new audit lines', 5000);
    const records = lines.map((l, i) => parseAuditLine(l, start + i));
    const sentinel = records.findIndex((r) => r.action === 'tools/list');
    assert.ok(sentinel >= 0, 'the sentinel tools/list record is there');
    const five = records.slice(0, sentinel);
    assert.equal(five.length, 5, `exactly one record per decision, got:\n${five.map((r) => JSON.stringify(r)).join('\n')}`);
    assert.equal(new Set(records.map((r) => r.decision_id)).size, records.length, 'decision_ids are unique');
    for (const r of records) assert.match(r.decision_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    assert.deepEqual(
      five.map((r) => [r.action, r.outcome, r.tool]),
      [
        ['tools/call', 'allow', 'echo'],
        ['tools/call', 'deny', 'echo'],
        ['tools/call', 'approval_required', 'delete_thing'],
        ['tools/call', 'error', 'echo'],
        ['authenticate', 'deny', 'tools/list'],
      ],
    );
    // The client-visible decisionId is the audit record's decision_id.
    assert.equal(denied.json.error.data.decisionId, five[1]!.decision_id);
    assert.equal(approval.json.error.data.decisionId, five[2]!.decision_id);
    assert.equal(evalError.json.error.data.decisionId, five[3]!.decision_id);
    assert.deepEqual(five[1]!.reasons, ['echo must not carry the word forbidden']);
    assert.match(five[3]!.reasons.join(' '), /conflict/);

    // Arguments appear only redacted; the token never appears.
    assert.deepEqual(five[0]!.arguments, { text: 'pay [redacted:card]' });
    const text = readFileSync(auditFile, 'utf8');
    assert.ok(!text.includes(CARD), 'the raw card number is not in the audit file');
    assert.ok(!text.includes(token), 'the JWT is not in the audit file');
    assert.ok(!text.includes(token.split('.')[2]!), 'not even the JWT signature');
    assert.ok(!text.includes(sid), 'the session id appears only as an HMAC');
  });
});
