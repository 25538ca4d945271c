// A load run with faults, for the hardening issue's figures (not part of `npm test`; it asserts nothing):
//   node --import tsx test/bench/load-faults.ts [--seconds 40] [--concurrency 24]
// tools/call at the given concurrency against an HTTP and a STDIO upstream, while: malformed-escape paths arrive
// unauthenticated, 1 MB initializes arrive, slow bodies hold sockets, and the STDIO child is killed mid-run.
// Prints calls sent, answered, failed by code, executed upstream, audit records and `audit verify`.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { raw, rawCall, rawSession, rpc, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { findPids } from '../helpers/process.js';
import { createIssuer } from '../helpers/tokens.js';
import { directClient, httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';
import { verifyTrail } from '../helpers/audit-trail.js';

const arg = (n: string, d: number) => (process.argv.includes(n) ? Number(process.argv[process.argv.indexOf(n) + 1]) : d);
const SECONDS = arg('--seconds', 40);
const C = arg('--concurrency', 24);
const KEY_ENV = 'PORTCULLIS_LOAD_AUDIT_KEY';
process.env[KEY_ENV] = 'load-run-checkpoint-key-0123456789abcdef';

const { dir, cleanup } = tempDir('portcullis-load-');
const up = await startHttpUpstream();
const direct = await directClient(up.url);
const issuer = await createIssuer(dir);
const token = await issuer.mint({ sub: 'loader', roles: ['engineer'] }, { expiresIn: 3600 });
const auditDir = join(dir, 'audit');
const gw = await startGateway(dir, {
  auth: issuer.authConfig(),
  policy: { bundle: buildAllowAllBundle(dir) },
  servers: [httpServer('web', up.url), stdioServer('local', { restart: { initialDelayMs: 100, maxDelayMs: 500 } })],
  audit: { file: join(auditDir, 'decisions.jsonl'), checkpoint: { keyEnv: KEY_ENV, everyRecords: 500, everySeconds: 3600 } },
  sessions: { maxPerPrincipal: 1000 },
  log: { level: 'warn' },
});

const byCode = new Map<string, number>();
const count = (k: string) => byCode.set(k, (byCode.get(k) ?? 0) + 1);
let sent = 0;
let answered = 0;
let okWeb = 0;
let okLocal = 0;
const end = Date.now() + SECONDS * 1000;
const webBefore = await direct.countCalls();

async function worker(i: number) {
  const sid = await rawSession(gw.url, token);
  let n = 0;
  while (Date.now() < end) {
    const tool = n++ % 3 === 0 ? 'local__echo' : 'web__echo';
    sent++;
    try {
      const r = await rawCall(gw.url, token, sid, tool, { text: `w${i}-${n}` });
      answered++;
      if (r.json?.result && !r.json.result.isError) {
        count('ok');
        if (tool === 'web__echo') okWeb++;
        else okLocal++;
      } else count(String(r.json?.error?.code ?? `http ${r.status}`));
    } catch (err) {
      count(`transport: ${(err as Error).message.slice(0, 40)}`);
    }
  }
}

async function faults() {
  let killed = false;
  while (Date.now() < end) {
    await raw(`${gw.base}/mcp/%`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' }).catch(() => undefined);
    await raw(`${gw.base}/mcp/%E0%A4%A`, { method: 'GET', headers: { accept: 'text/event-stream' } }).catch(() => undefined);
    await rpc(gw.url, token, undefined, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'x'.repeat(900_000), version: '1' } } }).catch(() => undefined);
    const s = connect(gw.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n');
    setTimeout(() => s.destroy(), 3000).unref();
    if (!killed && Date.now() > end - (SECONDS * 1000) / 2) {
      for (const pid of findPids('upstream-stdio.mjs')) process.kill(pid, 'SIGKILL');
      killed = true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const t0 = Date.now();
await Promise.all([...Array.from({ length: C }, (_, i) => worker(i)), faults()]);
const wall = (Date.now() - t0) / 1000;
const alive = (await raw(`${gw.base}/healthz`)).status;
const webExecuted = (await direct.countCalls()) - webBefore;
await gw.stop();
const records = readFileSync(join(auditDir, 'decisions.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.includes('"action":"tools/call"')).length;
const v = await verifyTrail(['--file', join(auditDir, 'decisions.jsonl'), '--key-env', KEY_ENV]);
console.log(
  JSON.stringify(
    {
      seconds: wall,
      concurrency: C,
      sent,
      answered,
      byCode: Object.fromEntries(byCode),
      okWeb,
      okLocal,
      webExecutedUpstream: webExecuted,
      auditToolCallRecords: records,
      auditVerify: v.result ? { ok: v.result.ok, records: v.result.records, checkpoints: v.result.checkpoints, problem: v.result.problem } : { code: v.code, stderr: v.stderr.slice(0, 300) },
      healthzAfter: alive,
    },
    null,
    2,
  ),
);
await direct.close();
await up.stop();
cleanup();
