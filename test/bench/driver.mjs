// Load driver for one benchmark cell, run as its own process so that no arm inherits another's heap or sockets.
//
//   node test/bench/driver.mjs '<json>'     json: {url, headers, mode: "call"|"list", concurrency, warmup, calls,
//                                                  expectTools?, label}
//
// Closed loop: `concurrency` workers, each with its own SDK Client + StreamableHTTPClientTransport session. Sessions are
// opened first, then `warmup` calls, then a barrier: the driver prints "BARRIER" and waits for "go" on stdin (so the
// orchestrator can sample /proc CPU ticks of the servers), runs `calls` timed calls, prints "TIMED-END", closes the
// sessions (DELETE) and prints "RESULT <json>" as its last line.
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const cfg = JSON.parse(process.argv[2]);
const warnings = { maxListeners: 0, other: [] };
process.on('warning', (w) => {
  if (w.name === 'MaxListenersExceededWarning') warnings.maxListeners++;
  else if (warnings.other.length < 5) warnings.other.push(`${w.name}: ${w.message}`);
});

/**
 * The SDK transport passes one session-wide AbortSignal to every fetch, so each POST adds an abort listener to the
 * same signal (MaxListenersExceededWarning, mcphub PR #1062). POSTs go without it; the GET stream and DELETE keep it,
 * so client.close() still ends the stream.
 */
function benchFetch(url, init) {
  if (init && init.method === 'POST' && init.signal) {
    const { signal: _signal, ...rest } = init;
    return fetch(url, rest);
  }
  return fetch(url, init);
}

async function openSession(i) {
  const client = new Client({ name: 'portcullis-bench', version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(cfg.url), {
    fetch: benchFetch,
    requestInit: { headers: cfg.headers ?? {} },
  });
  await client.connect(transport);
  return { i, client, transport };
}

const runTag = randomBytes(4).toString('hex');
const result = {
  label: cfg.label,
  mode: cfg.mode,
  concurrency: cfg.concurrency,
  calls: 0,
  errors: 0,
  mismatches: 0,
  firstError: null,
  latenciesMs: [],
  wallMs: 0,
  clientCpuMs: 0,
  serverVersion: null,
  protocolVersion: null,
  list: null,
  warnings,
};

function fail(err) {
  result.errors++;
  result.firstError ??= String(err?.message ?? err).slice(0, 300);
}

async function once(session, i, record) {
  const t0 = performance.now();
  try {
    if (cfg.mode === 'list') {
      const r = await session.client.listTools();
      const dt = performance.now() - t0;
      if (cfg.expectTools !== undefined && r.tools.length !== cfg.expectTools) result.mismatches++;
      if (record) result.latenciesMs.push(dt);
    } else {
      // Distinct arguments per call: the text carries the worker, the call number and a per-run tag.
      const text = `bench ${runTag} w${session.i} #${i}`;
      const r = await session.client.callTool({ name: 'echo', arguments: { text } });
      const dt = performance.now() - t0;
      if (r.isError || r.content?.[0]?.text !== text) {
        result.mismatches++;
        result.firstError ??= `unexpected result: ${JSON.stringify(r).slice(0, 300)}`;
      }
      if (record) result.latenciesMs.push(dt);
    }
  } catch (err) {
    fail(err);
  }
}

async function runPhase(sessions, total, record) {
  const counter = { n: 0 };
  await Promise.all(
    sessions.map(async (s) => {
      for (;;) {
        const i = counter.n++;
        if (i >= total) return;
        await once(s, i, record);
      }
    }),
  );
}

function waitForGo() {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      if (buf.includes('go')) {
        process.stdin.off('data', onData);
        process.stdin.pause();
        resolve();
      }
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.resume();
  });
}

/** One raw tools/list on an open session, to record the bytes on the wire and a digest of the tool list. */
async function measureListBytes(session) {
  const { createHash } = await import('node:crypto');
  const res = await fetch(cfg.url, {
    method: 'POST',
    headers: {
      ...(cfg.headers ?? {}),
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': session.transport.sessionId,
      'mcp-protocol-version': session.transport.protocolVersion ?? '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'bytes', method: 'tools/list', params: {} }),
  });
  const raw = await res.text();
  let body = raw;
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    body = raw
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .join('');
  }
  const parsed = JSON.parse(body);
  const toolsJson = JSON.stringify(parsed.result.tools);
  return {
    httpBodyBytes: Buffer.byteLength(raw),
    toolsJsonBytes: Buffer.byteLength(toolsJson),
    tools: parsed.result.tools.length,
    toolsSha256: createHash('sha256').update(toolsJson).digest('hex').slice(0, 16),
  };
}

const sessions = await Promise.all(Array.from({ length: cfg.concurrency }, (_, i) => openSession(i)));
result.serverVersion = sessions[0].client.getServerVersion() ?? null;
result.protocolVersion = sessions[0].transport.protocolVersion ?? null;

await runPhase(sessions, cfg.warmup, false);
const warmupErrors = result.errors;
process.stdout.write('BARRIER\n');
await waitForGo();

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await runPhase(sessions, cfg.calls, true);
result.wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write('TIMED-END\n');
result.clientCpuMs = (cpu.user + cpu.system) / 1000;
result.calls = cfg.calls;
result.warmupErrors = warmupErrors;

if (cfg.mode === 'list') {
  try {
    result.list = await measureListBytes(sessions[0]);
  } catch (err) {
    result.list = { error: String(err?.message ?? err) };
  }
}

// Explicit DELETE: client.close() alone leaves the session on the server (performance.md §1).
await Promise.all(
  sessions.map(async (s) => {
    await s.transport.terminateSession().catch(() => undefined);
    await s.client.close().catch(() => undefined);
  }),
);

process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
// Keep-alive sockets of the global dispatcher would hold the process a few seconds; the result is out, so end now.
process.exit(0);
