// Measures what a huge upstream answer and a flood of stuck calls cost the gateway (peak RSS, timings).
// Usage: node --import tsx test/bench/upstream-limits-measure.ts [MB]   (PORTCULLIS_CLI=<other dist>/main.js to compare)
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { rawSession, rpc, PROTOCOL_VERSION } from '../helpers/mcp.js';
import { FIXTURES, ROOT, tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { spawnManaged, stopManaged, waitForStdout } from '../helpers/process.js';

const mb = Number(process.argv[2] ?? 200);
const hwm = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

const { dir, cleanup } = tempDir('portcullis-measure-');
const up = spawnManaged(process.execPath, [join(FIXTURES, 'hostile-upstream.mjs')], { cwd: ROOT });
const port = (await waitForStdout(up, /^READY (\d+)$/m))[1];
const gw = await startGateway(dir, {
  auth: { mode: 'none' },
  policy: { bundle: buildAllowAllBundle(dir) },
  servers: [
    { id: 'big', url: `http://127.0.0.1:${port}/mcp`, labels: {}, timeoutMs: 120_000 },
    { id: 'stuck', url: `http://127.0.0.1:${port}/mcp`, labels: {}, timeoutMs: 500 },
  ],
});
try {
  const sid = await rawSession(gw.url, null);
  const before = hwm(gw.process.pid);
  const t0 = Date.now();
  // Read the answer without keeping it: the client's memory is not what is measured.
  const { status, bytes, head } = await new Promise<{ status: number; bytes: number; head: string }>((resolve, reject) => {
    const u = new URL(gw.url);
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION } },
      (res) => {
        let bytes = 0;
        let head = '';
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (head.length < 300) head += c.toString('utf8').slice(0, 300);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, head: head.slice(0, 200) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'big__big', arguments: { mb } } }));
  });
  console.log(`${mb} MiB tool: HTTP ${status}, ${(bytes / 1048576).toFixed(1)} MiB to the client in ${Date.now() - t0} ms; gateway peak RSS ${before.toFixed(0)} -> ${hwm(gw.process.pid).toFixed(0)} MiB; answer starts ${JSON.stringify(head.slice(0, 160))}`);

  const t1 = Date.now();
  const stuck = await Promise.all(Array.from({ length: 130 }, (_, i) => rpc(gw.url, null, sid, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'stuck__endless', arguments: {} } }, { 'mcp-protocol-version': PROTOCOL_VERSION })));
  const codes = new Map<number, number>();
  for (const a of stuck) codes.set(a.json?.error?.code, (codes.get(a.json?.error?.code) ?? 0) + 1);
  const t2 = Date.now();
  const next = await rpc(gw.url, null, sid, { jsonrpc: '2.0', id: 999, method: 'tools/call', params: { name: 'stuck__echo', arguments: { text: 'hi' } } }, { 'mcp-protocol-version': PROTOCOL_VERSION });
  const stats = await (await fetch(`http://127.0.0.1:${port}/stats`)).json();
  console.log(`130 calls on an endless stream: answered in ${t2 - t1} ms (${JSON.stringify([...codes])}); next call ${Date.now() - t2} ms: ${next.text.slice(0, 120)}; upstream streams still open ${stats.open}`);
} finally {
  await gw.stop();
  await stopManaged(up);
  cleanup();
}
