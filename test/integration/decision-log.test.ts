// OPA-compatible decision logs: a real HTTP receiver gets gzip'd JSON-array batches (POST, Content-Encoding: gzip)
// of OPA EventV1 events, with the input masked as the decision says and no token; a receiver that fails first gets
// the same events again, with backoff, and none is lost.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readAudit } from '../helpers/audit.js';
import { buildBundle, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { rawCall, rawList, rawSession } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream } from '../helpers/upstreams.js';

const CARD = '4111 1111 1111 1111';

// Every tool visible; slow_echo allowed with its arguments redacted (drop /ms, mask card numbers); echo "no" denied.
const POLICY = String.raw`package portcullis

visible contains tool.key if some tool in input.tools

default decision := {"outcome": "deny", "reasons": ["no rule allowed this call"]}

decision := {
	"outcome": "allow",
	"reasons": ["slow_echo is fine"],
	"redact": {"arguments": {"drop": ["/ms"], "mask": [{"name": "card", "pattern": "\\d{4}( \\d{4}){3}", "replacement": "[card]"}]}},
} if input.tool.name == "slow_echo"

decision := {"outcome": "allow", "reasons": ["echo is fine"]} if {
	input.tool.name == "echo"
	input.arguments.text != "no"
}
`;

interface Upload {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
  events: Array<Record<string, any>>;
  raw: string;
}

/** A decision log service: records every upload; answers the first `failFirst` with 500. */
async function startReceiver(failFirst: number): Promise<{ url: string; uploads: Upload[]; server: Server }> {
  const uploads: Upload[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body).toString('utf8') : body.toString('utf8');
      const status = uploads.length < failFirst ? 500 : 200;
      uploads.push({ method: req.method!, path: req.url!, headers: req.headers, status, events: JSON.parse(raw) as Array<Record<string, any>>, raw });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/logs`, uploads, server };
}

describe('OPA-compatible decision logs', () => {
  const scope = new Scope();
  let dir: string;
  let bundle: string;
  let upUrl: string;
  let issuer: Awaited<ReturnType<typeof createIssuer>>;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    bundle = buildBundle(writePolicyDir(join(dir, 'policy'), { 'policy.rego': POLICY }), join(dir, 'policy.tar.gz'), 'dl-rev-1');
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    upUrl = up.url;
    issuer = await createIssuer(dir);
  });
  after(() => scope.close());

  async function gateway(receiverUrl: string, name: string, extra: Record<string, unknown> = {}): Promise<{ gw: RunningGateway; auditFile: string }> {
    const auditFile = join(dir, `${name}-audit.jsonl`);
    const gw = scope.defer(
      await startGateway(
        dir,
        {
          auth: issuer.authConfig(),
          policy: { bundle },
          servers: [httpServer('web', upUrl)],
          audit: { file: auditFile },
          decisionLogs: { url: receiverUrl, maxBatch: 4, maxDelayMs: 100, maxRetryDelayMs: 400, labels: { env: 'it', app: 'portcullis' }, headers: { 'X-Tenant': 'acme' }, ...extra },
        },
        `${name}.yaml`,
      ),
      (g) => g.stop(),
    );
    return { gw, auditFile };
  }

  it('ships gzip\'d JSON-array batches of OPA events: fields, paths, bundle revision, labels, masked input, no token', async () => {
    const rx = scope.defer(await startReceiver(0), (r) => new Promise((res) => r.server.close(res)));
    const { gw, auditFile } = await gateway(rx.url, 'shape');
    const token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
    const sid = await rawSession(gw.url, token);
    assert.ok((await rawList(gw.url, token, sid)).json.result);
    const allowed = await rawCall(gw.url, token, sid, 'web__slow_echo', { text: `pay ${CARD}`, ms: 1 });
    assert.ok(allowed.json.result, allowed.text);
    const denied = await rawCall(gw.url, token, sid, 'web__echo', { text: 'no' });
    assert.equal(denied.json.error.code, -32010);
    const deniedId = denied.json.error.data.decisionId as string;

    const events = await waitFor(() => {
      const all = rx.uploads.flatMap((u) => u.events);
      return all.filter((e) => e.path === 'portcullis/decision').length >= 2 ? all : null;
    }, 'the decision events', 10_000);

    for (const u of rx.uploads) {
      assert.equal(u.method, 'POST');
      assert.equal(u.path, '/logs');
      assert.equal(u.headers['content-encoding'], 'gzip');
      assert.match(String(u.headers['content-type']), /^application\/json/);
      assert.equal(u.headers['x-tenant'], 'acme');
      assert.ok(Array.isArray(u.events) && u.events.length <= 4, 'a JSON array of at most maxBatch events');
    }
    for (const e of events) {
      assert.match(e.decision_id, /^[0-9a-f-]{36}$/);
      assert.ok(e.path === 'portcullis/visible' || e.path === 'portcullis/decision', e.path);
      assert.deepEqual(e.bundles, { portcullis: { revision: 'dl-rev-1' } });
      assert.equal(e.labels.env, 'it');
      assert.equal(e.labels.app, 'portcullis');
      assert.match(e.labels.id, /^[0-9a-f-]{36}$/);
      assert.equal(e.labels.version, '0.1.0');
      assert.ok(!Number.isNaN(Date.parse(e.timestamp)), e.timestamp);
      assert.equal(typeof e.requested_by, 'string');
      assert.ok(e.input && typeof e.input === 'object');
      assert.ok('result' in e);
      // The token's jti is replaced by its HMAC, and said so.
      assert.match(e.input.subject.claims.jti, /^hmac-sha256:/);
      assert.ok(e.masked.includes('/input/subject/claims/jti'));
    }

    // The allowed call: input as policy saw it, but with its arguments redacted as the decision says.
    const records = readAudit(auditFile);
    const allowedRec = records.find((r) => r.tool === 'slow_echo')!;
    const dec = events.find((e) => e.path === 'portcullis/decision' && e.decision_id === allowedRec.decision_id)!;
    assert.ok(dec, 'the decision event carries the audit record\'s decision_id');
    assert.equal(dec.input.action, 'tools/call');
    assert.equal(dec.input.tool.name, 'slow_echo');
    assert.deepEqual(dec.input.arguments, { text: 'pay [card]' });
    assert.deepEqual(dec.erased, ['/input/arguments/ms']);
    assert.ok(dec.masked.includes('/input/arguments/text'));
    assert.equal(dec.result.outcome, 'allow');
    assert.ok(dec.metrics.timer_rego_query_eval_ns > 0);
    // The visibility check of the same call is its own event, under the same decision_id.
    assert.ok(events.some((e) => e.path === 'portcullis/visible' && e.decision_id === allowedRec.decision_id));
    // The denied call: the id the client was given.
    const deniedEv = events.find((e) => e.path === 'portcullis/decision' && e.decision_id === deniedId)!;
    assert.equal(deniedEv.result.outcome, 'deny');
    assert.deepEqual(deniedEv.input.arguments, { text: 'no' });
    // The tools/list decision.
    const listRec = records.find((r) => r.action === 'tools/list')!;
    const listEv = events.find((e) => e.decision_id === listRec.decision_id)!;
    assert.equal(listEv.path, 'portcullis/visible');
    assert.ok(Array.isArray(listEv.result) && listEv.result.includes('web__echo'));

    const everything = rx.uploads.map((u) => u.raw).join('\n');
    assert.ok(!everything.includes(token), 'no token');
    assert.ok(!everything.includes(token.split('.')[2]!), 'not even its signature');
    assert.ok(!everything.includes(CARD), 'no unmasked card number');
    assert.ok(!everything.includes(sid), 'the session id only as its HMAC');
  });

  it('a receiver answering 500 gets the same batch again, with backoff, and no event is lost', async () => {
    const rx = scope.defer(await startReceiver(3), (r) => new Promise((res) => r.server.close(res)));
    const { gw, auditFile } = await gateway(rx.url, 'retry');
    const token = await issuer.mint({ sub: 'bob', roles: ['engineer'] });
    const sid = await rawSession(gw.url, token);
    for (let i = 0; i < 10; i++) assert.ok((await rawCall(gw.url, token, sid, 'web__echo', { text: `retry ${i}` })).json.result);
    const ids = await waitFor(() => {
      const recs = readAudit(auditFile).filter((r) => r.action === 'tools/call');
      return recs.length === 10 ? recs.map((r) => r.decision_id) : null;
    }, 'ten audit records', 5000);
    await waitFor(() => {
      const delivered = new Set(rx.uploads.filter((u) => u.status === 200).flatMap((u) => u.events.filter((e) => e.path === 'portcullis/decision').map((e) => e.decision_id as string)));
      return ids.every((id) => delivered.has(id));
    }, 'every decision delivered', 15_000);

    const failed = rx.uploads.filter((u) => u.status === 500);
    assert.equal(failed.length, 3);
    // The failed events were sent again, unchanged and in order, ahead of anything newer (the retry may carry newer
    // events after them, up to maxBatch).
    const firstOk = rx.uploads.find((u) => u.status === 200)!;
    const again = firstOk.events.slice(0, failed[0]!.events.length);
    assert.deepEqual(again, failed[0]!.events);
    for (let i = 1; i < failed.length; i++) assert.deepEqual(failed[i]!.events.slice(0, failed[0]!.events.length), failed[0]!.events, 'each retry starts with them');
    // Delivered once each after the retries (the batches that failed are not duplicated among the successes).
    const okEvents = rx.uploads.filter((u) => u.status === 200).flatMap((u) => u.events.map((e) => `${e.decision_id} ${e.path}`));
    assert.equal(new Set(okEvents).size, okEvents.length);
  });
});
