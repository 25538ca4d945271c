// Tracing: a client call with a traceparent yields one trace with a span per pipeline stage, exported over OTLP/HTTP
// (JSON) to a receiver in this test, and continued at the upstream (HTTP header and params._meta; STDIO: _meta).
// Span names and attributes follow the MCP semantic conventions; the audit record carries the trace and span ids.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { auditLines, parseAuditLine } from '../helpers/audit.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { PROTOCOL_VERSION, rawSession, rpc } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildExampleBundle, VETO_REGO } from '../helpers/policies.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
  resource: Record<string, unknown>;
}

/** An OTLP/HTTP receiver that keeps every span it is sent (JSON encoding, as the exporter sends it). */
async function startReceiver(): Promise<{ url: string; spans: OtlpSpan[]; requests: number; stop(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const state = { requests: 0 };
  const flat = (attrs: Array<{ key: string; value: Record<string, unknown> }> = []) =>
    Object.fromEntries(attrs.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue ?? a.value.doubleValue]));
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (req.url !== '/v1/traces' || !String(req.headers['content-type']).includes('application/json')) {
        res.writeHead(415).end();
        return;
      }
      const doc = JSON.parse(body.toString('utf8')) as { resourceSpans: Array<{ resource: { attributes: [] }; scopeSpans: Array<{ spans: Array<Record<string, any>> }> }> };
      for (const rs of doc.resourceSpans) {
        const resource = flat(rs.resource.attributes);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, kind: s.kind, attributes: flat(s.attributes), status: s.status ?? {}, resource });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    get requests() {
      return state.requests;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('tracing', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let token: string;
  let httpRecord: string;
  let stdioRecord: string;
  let auditFile: string;

  before(async () => {
    const { dir, cleanup } = tempDir('portcullis-tracing-');
    scope.defer(null, cleanup);
    receiver = scope.defer(await startReceiver(), (r) => r.stop());
    httpRecord = join(dir, 'http-upstream.jsonl');
    stdioRecord = join(dir, 'stdio-upstream.jsonl');
    auditFile = join(dir, 'audit.jsonl');
    const up = scope.defer(await startHttpUpstream({ record: httpRecord }), (u) => u.stop());
    const issuer = await createIssuer(dir);
    const bundle = buildExampleBundle(dir, { 'veto.rego': VETO_REGO });
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle },
        servers: [httpServer('web', up.url, { trust: 'trusted' }), stdioServer('local', { record: stdioRecord, labels: { trust: 'trusted' } })],
        audit: { file: auditFile },
        tracing: { otlpUrl: receiver.url, serviceName: 'portcullis-it', exportIntervalMs: 100 },
      }),
      (g) => g.stop(),
    );
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'] });
  });
  after(() => scope.close());

  const spansOf = (traceId: string, atLeast: number) =>
    waitFor(() => {
      const s = receiver.spans.filter((x) => x.traceId === traceId);
      return s.length >= atLeast && s.some((x) => x.kind === 2) ? s : null;
    }, `${atLeast} spans of trace ${traceId}`, 10_000, 50);

  const call = (url: string, sid: string, id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>, headers: Record<string, string> = {}) =>
    rpc(url, token, sid, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } }, { 'mcp-protocol-version': PROTOCOL_VERSION, ...headers });

  it('a traceparent header: one trace, a span per stage under the request span, continued at the HTTP upstream', async () => {
    const url = `${gw.base}/mcp/web`;
    const sid = await rawSession(url, token);
    const traceId = hex(16);
    const clientSpan = hex(8);
    const text = `traced-${hex(4)}`;
    const r = await call(url, sid, 7, 'echo', { text }, undefined, { traceparent: `00-${traceId}-${clientSpan}-01` });
    assert.ok(r.json.result, r.text);

    const spans = await spansOf(traceId, 9);
    const root = spans.find((s) => s.kind === 2)!;
    // MCP semconv: "{mcp.method.name} {target}", SERVER kind, parent = the client's span.
    assert.equal(root.name, 'tools/call echo');
    assert.equal(root.parentSpanId, clientSpan);
    assert.equal(root.attributes['mcp.method.name'], 'tools/call');
    assert.equal(root.attributes['gen_ai.tool.name'], 'echo');
    assert.equal(root.attributes['gen_ai.operation.name'], 'execute_tool');
    assert.equal(root.attributes['jsonrpc.request.id'], '7');
    assert.equal(root.attributes['mcp.protocol.version'], PROTOCOL_VERSION);
    assert.equal(root.attributes['network.transport'], 'tcp');
    assert.match(String(root.attributes['mcp.session.id']), /^hmac-sha256:/, 'the session id is a credential: only its HMAC is traced');
    assert.notEqual(root.attributes['mcp.session.id'], sid);
    assert.equal(root.attributes['error.type'], undefined);
    assert.equal(root.resource['service.name'], 'portcullis-it');

    const children = spans.filter((s) => s.parentSpanId === root.spanId);
    const names = children.map((s) => s.name);
    for (const stage of ['identity', 'catalog', 'policy', 'quota', 'credentials', 'validation', 'redaction', 'upstream', 'audit']) {
      assert.ok(names.includes(`portcullis.${stage}`), `span for ${stage} in ${JSON.stringify(names)}`);
    }
    assert.equal(children.length, spans.length - 1, 'every other span of the trace is a child of the request span');
    const upstream = children.find((s) => s.name === 'portcullis.upstream')!;
    assert.equal(upstream.kind, 3, 'the upstream span is a CLIENT span');
    assert.equal(upstream.attributes['portcullis.server.id'], 'web');

    // The upstream received the trace: its parent is the gateway's upstream span, in the header and in _meta.
    const seen = await waitFor(
      () => readFileSync(httpRecord, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.body?.method === 'tools/call' && l.body.params?.arguments?.text === text),
      'the call at the upstream',
    );
    const expected = `00-${traceId}-${upstream.spanId}-01`;
    assert.equal(seen.headers.traceparent, expected);
    assert.equal(seen.body.params._meta.traceparent, expected);

    // The audit record names the trace and the request span.
    const rec = await waitFor(() => auditLines(auditFile).map(parseAuditLine).find((l) => l.action === 'tools/call' && l.trace_id === traceId), 'audit record of the traced call');
    assert.equal(rec.span_id, root.spanId);
    assert.equal(rec.outcome, 'allow');
  });

  it('a traceparent in params._meta continues the trace, and reaches a STDIO upstream in _meta', async () => {
    const url = `${gw.base}/mcp/local`;
    const sid = await rawSession(url, token);
    const traceId = hex(16);
    const clientSpan = hex(8);
    const text = `stdio-${hex(4)}`;
    // The header names another trace: _meta (where MCP carries context) wins.
    const r = await call(url, sid, 8, 'echo', { text }, { traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=1' }, { traceparent: `00-${hex(16)}-${hex(8)}-01` });
    assert.ok(r.json.result, r.text);
    const spans = await spansOf(traceId, 9);
    const root = spans.find((s) => s.kind === 2)!;
    assert.equal(root.parentSpanId, clientSpan);
    const upstream = spans.find((s) => s.name === 'portcullis.upstream')!;
    const msg = await waitFor(
      () => readFileSync(stdioRecord, 'utf8').split('\n').filter(Boolean).slice(1).map((l) => JSON.parse(l)).find((m) => m.method === 'tools/call' && m.params?.arguments?.text === text),
      'the call at the STDIO upstream',
    );
    assert.equal(msg.params._meta.traceparent, `00-${traceId}-${upstream.spanId}-01`);
    assert.equal(msg.params._meta.tracestate, 'vendor=1');
  });

  it('a denied call: the request span and the policy span are errors with the JSON-RPC code; no upstream span', async () => {
    const url = `${gw.base}/mcp/web`;
    const sid = await rawSession(url, token);
    const traceId = hex(16);
    const r = await call(url, sid, 9, 'echo', { text: 'forbidden' }, { traceparent: `00-${traceId}-${hex(8)}-01` });
    assert.equal(r.json.error.code, -32010);
    const spans = await spansOf(traceId, 5);
    const root = spans.find((s) => s.kind === 2)!;
    assert.equal(root.status.code, 2, 'ERROR');
    assert.equal(root.attributes['rpc.response.status_code'], '-32010');
    assert.equal(root.attributes['error.type'], '-32010');
    const policy = spans.find((s) => s.name === 'portcullis.policy')!;
    assert.equal(policy.status.code, 2, 'the stage where the call broke is marked');
    assert.equal(spans.find((s) => s.name === 'portcullis.upstream'), undefined);
    assert.equal(spans.find((s) => s.name === 'portcullis.audit')?.status.code ?? 0, 0, 'the audit stage itself did not fail');
  });

  it('a client that does not sample: nothing is recorded, yet the context reaches the upstream and the audit record', async () => {
    const url = `${gw.base}/mcp/web`;
    const sid = await rawSession(url, token);
    const traceId = hex(16);
    const text = `unsampled-${hex(4)}`;
    const r = await call(url, sid, 10, 'echo', { text }, undefined, { traceparent: `00-${traceId}-${hex(8)}-00` });
    assert.ok(r.json.result, r.text);
    const seen = await waitFor(
      () => readFileSync(httpRecord, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.body?.method === 'tools/call' && l.body.params?.arguments?.text === text),
      'the call at the upstream',
    );
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(seen.headers.traceparent);
    assert.ok(m, seen.headers.traceparent);
    assert.equal(m[1], traceId);
    const rec = await waitFor(() => auditLines(auditFile).map(parseAuditLine).find((l) => l.action === 'tools/call' && l.trace_id === traceId), 'audit record');
    assert.equal(rec.span_id, m[2], 'unsampled: the request span is the upstream\'s parent');
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(receiver.spans.filter((s) => s.traceId === traceId).length, 0, 'no span exported');
  });

  it('without a traceparent a new trace starts; a refused token still gets a span with the identity stage', async () => {
    const url = `${gw.base}/mcp/web`;
    const before = receiver.spans.length;
    const r = await rpc(url, 'not-a-token', 'whatever', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-protocol-version': PROTOCOL_VERSION });
    assert.equal(r.status, 401);
    const root = await waitFor(() => receiver.spans.slice(before).find((s) => s.kind === 2 && s.name === 'tools/list'), 'the span of the refused request');
    assert.equal(root.parentSpanId, undefined);
    assert.equal(root.status.code, 2);
    assert.equal(root.attributes['error.type'], 'AuthenticationError');
    const identity = await waitFor(() => receiver.spans.find((s) => s.parentSpanId === root.spanId && s.name === 'portcullis.identity'), 'identity span');
    assert.equal(identity.status.code, 2);
    const rec = await waitFor(() => auditLines(auditFile).map(parseAuditLine).find((l) => l.action === 'authenticate' && l.trace_id === root.traceId), 'audit record of the refusal');
    assert.equal(rec.span_id, root.spanId);
  });
});
