// In-process policy micro-benchmarks on the built gateway code (dist/): one tools/call decision and one tools/list
// visibility decision over 1,000 tools, on the RBAC bundle from policies/ and on the allow-all bundle.
//
//   node test/bench/micro.mjs '<json>'    json: {rbacBundle, allowAllBundle, regexBundles: [{name, file}], decisionIters, visibleIters}
// Prints "RESULT <json>" as its last line.
import { readFileSync } from 'node:fs';
import { PolicyEngine, createAuthorizer, ENTRYPOINT_DECISION, ENTRYPOINT_VISIBLE } from '../../dist/policy/index.js';
import { subjectFromClaims, subjectForPolicy } from '../../dist/identity/index.js';
import { summarize } from './lib/stats.mjs';

const cfg = JSON.parse(process.argv[2]);
const warnings = { maxListeners: 0 };
process.on('warning', (w) => {
  if (w.name === 'MaxListenersExceededWarning') warnings.maxListeners++;
});

async function engineFor(file) {
  // A generous budget: this bench times evaluations itself, and a cold first evaluation on a busy machine may pass the
  // gateway's 50 ms default (rows count how many did: overGatewayBudget).
  const engine = new PolicyEngine({ timeoutMs: 60_000, maxMemoryPages: 4096 });
  await engine.activate(readFileSync(file));
  return engine;
}

// The subject exactly as the gateway builds it from verified claims (roles [engineer]).
const now = Math.floor(Date.now() / 1000);
const subject = subjectFromClaims(
  {
    iss: 'https://idp.bench.invalid',
    sub: 'bench-user',
    aud: 'portcullis-bench',
    client_id: 'portcullis-bench',
    scope: 'mcp',
    roles: ['engineer'],
    groups: ['platform'],
    iat: now,
    exp: now + 3600,
  },
  'roles',
  'groups',
);
const server = Object.freeze({ id: 'echo', transport: 'http', labels: { trust: 'trusted' } });
const echoTool = {
  name: 'echo',
  description: 'Echo the given text back.',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string' } },
    required: ['text'],
    additionalProperties: false,
    $schema: 'http://json-schema.org/draft-07/schema#',
  },
  outputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  annotations: { readOnlyHint: true },
};
const entry = {
  key: 'echo__echo',
  server,
  tool: echoTool,
  policyView: { key: 'echo__echo', name: 'echo', description: echoTool.description, annotations: echoTool.annotations, server },
};
const facts = {
  time: new Date().toISOString(),
  session: 'hmac-sha256:0123456789abcdef0123456789abcdef',
  endpoint: '/mcp/echo',
  protocol_version: '2025-06-18',
};

/** The decision input the authorizer builds for a tools/call, with the argument text padded to `bytes` in total. */
function decisionInput(bytes, i) {
  const input = {
    action: 'tools/call',
    subject: subjectForPolicy(subject),
    server,
    tool: {
      key: entry.key,
      name: echoTool.name,
      title: undefined,
      description: echoTool.description,
      annotations: echoTool.annotations,
      inputSchema: echoTool.inputSchema,
    },
    arguments: { text: '' },
    request: facts,
  };
  const base = JSON.stringify(input).length;
  const pad = Math.max(0, bytes - base - 12);
  input.arguments.text = `call ${String(i).padStart(6, '0')} ${'x'.repeat(pad)}`.slice(0, pad + 12);
  return input;
}

function timeLoop(iters, warmup, fn) {
  for (let i = 0; i < warmup; i++) fn(i);
  const samples = new Float64Array(iters);
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000; // µs
  }
  return { ...summarize(samples), overGatewayBudget: samples.filter((us) => us > 50_000).length };
}

function checkOk(r, what) {
  if (!r.ok) throw new Error(`${what}: ${r.reason}`);
  return r.value;
}

const rbac = await engineFor(cfg.rbacBundle);
const allowAll = await engineFor(cfg.allowAllBundle);
const rows = [];

// tools/call decision, ~1 KB and ~32 KB input. Inputs are built before timing: the row measures evaluate() alone.
for (const [name, engine, bytes, iters] of [
  ['decision, RBAC bundle, 1 KB input (engine.evaluate)', rbac, 1024, cfg.decisionIters],
  ['decision, allow-all bundle, 1 KB input (engine.evaluate)', allowAll, 1024, cfg.decisionIters],
  ['decision, RBAC bundle, 32 KB input (engine.evaluate)', rbac, 32 * 1024, Math.max(200, Math.floor(cfg.decisionIters / 5))],
]) {
  const inputs = Array.from({ length: 64 }, (_, i) => decisionInput(bytes, i));
  const sample = checkOk(engine.evaluate(ENTRYPOINT_DECISION, inputs[0]), name);
  if (sample?.outcome !== 'allow') throw new Error(`${name}: expected allow, got ${JSON.stringify(sample)}`);
  const stats = timeLoop(iters, Math.min(1000, iters), (i) => engine.evaluate(ENTRYPOINT_DECISION, inputs[i & 63]));
  rows.push({ name, kind: 'decision', inputBytes: JSON.stringify(inputs[0]).length, ...stats });
}

// The same decision with the CPU caches evicted before each evaluation (a 32 MiB sweep, untimed). In a hot loop the
// module's code and memory stay in cache; in the gateway a decision runs between the HTTP, JSON and audit work of the
// call, and measured there (audit latency_ms.policy) it costs several times the hot-loop figure. This row is the closer
// estimate of what a decision costs on the call path.
{
  const name = 'decision, RBAC bundle, 1 KB input, caches evicted before each evaluation (engine.evaluate)';
  const inputs = Array.from({ length: 64 }, (_, i) => decisionInput(1024, i));
  const sweep = new Float64Array(4 * 1024 * 1024);
  let sink = 0;
  const evict = () => {
    for (let j = 0; j < sweep.length; j += 8) sink += sweep[j]++; // one touch per 64-byte line
  };
  const iters = Math.min(cfg.decisionIters, 2000);
  const samples = new Float64Array(iters);
  for (let i = 0; i < 200; i++) rbac.evaluate(ENTRYPOINT_DECISION, inputs[i & 63]);
  for (let i = 0; i < iters; i++) {
    evict();
    const t0 = process.hrtime.bigint();
    rbac.evaluate(ENTRYPOINT_DECISION, inputs[i & 63]);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  if (sink < 0) throw new Error('unreachable'); // keeps the sweep from being optimised away
  rows.push({ name, kind: 'decision', inputBytes: JSON.stringify(inputs[0]).length, ...summarize(samples), overGatewayBudget: samples.filter((us) => us > 50_000).length });
}

// regex.match in a decision (test/bench/policies-regex): the same ~1 KB inputs on bundles that differ only in their
// patterns. `regex, 1 pattern` − `allow-all` is what two regex.match calls cost a decision; `8 same` − `1` is seven more
// matches of an already compiled pattern; `8 distinct` − `8 same` is seven more pattern compilations. opa-wasm keeps its
// compiled RE2 patterns in a cache that lives on the Wasm heap, and every evaluate() resets that heap, so a pattern is
// compiled again on every decision (see test/bench/README.md, "regex.match").
for (const { name, file } of cfg.regexBundles ?? []) {
  const engine = await engineFor(file);
  const inputs = Array.from({ length: 64 }, (_, i) => decisionInput(1024, i));
  const sample = checkOk(engine.evaluate(ENTRYPOINT_DECISION, inputs[0]), name);
  if (sample?.outcome !== 'allow') throw new Error(`${name}: expected allow, got ${JSON.stringify(sample)}`);
  const stats = timeLoop(cfg.decisionIters, Math.min(1000, cfg.decisionIters), (i) => engine.evaluate(ENTRYPOINT_DECISION, inputs[i & 63]));
  rows.push({ name, kind: 'regex', inputBytes: JSON.stringify(inputs[0]).length, ...stats });
}

// The whole authorizer.decide(): input building + evaluate + parseDecision (what the call pipeline pays).
{
  const authorizer = createAuthorizer(rbac, { listCacheSeconds: 5 });
  const argsList = Array.from({ length: 64 }, (_, i) => decisionInput(1024, i).arguments);
  const name = 'decision, RBAC bundle, 1 KB input (authorizer.decide: build + evaluate + parse)';
  const d = authorizer.decide(subject, entry, argsList[0], facts);
  if (!d.ok || d.decision.outcome !== 'allow') throw new Error(`${name}: ${JSON.stringify(d)}`);
  const stats = timeLoop(cfg.decisionIters, 1000, (i) => authorizer.decide(subject, entry, argsList[i & 63], facts));
  rows.push({ name, kind: 'decision', inputBytes: JSON.stringify(decisionInput(1024, 0)).length, ...stats });
}

// tools/list visibility over 1,000 tools: one evaluation with every tool in the input (never one per tool).
const tools = Array.from({ length: 1000 }, (_, i) => ({
  key: `many__tool_${i}`,
  name: `tool_${i}`,
  title: undefined,
  description: `Generated benchmark tool number ${i}.`,
  annotations: { readOnlyHint: true },
  server: { id: 'many', transport: 'http', labels: { trust: 'trusted' } },
}));
const visibleInput = { action: 'tools/list', subject: subjectForPolicy(subject), tools, request: { ...facts, endpoint: '/mcp/many' } };
for (const [name, engine] of [
  ['visible, RBAC bundle, 1,000 tools (engine.evaluate)', rbac],
  ['visible, allow-all bundle, 1,000 tools (engine.evaluate)', allowAll],
]) {
  const keys = checkOk(engine.evaluate(ENTRYPOINT_VISIBLE, visibleInput), name);
  if (!Array.isArray(keys) || keys.length !== 1000) throw new Error(`${name}: expected 1000 visible keys, got ${keys?.length}`);
  const stats = timeLoop(cfg.visibleIters, 20, () => engine.evaluate(ENTRYPOINT_VISIBLE, visibleInput));
  rows.push({ name, kind: 'visible', inputBytes: JSON.stringify(visibleInput).length, ...stats });
}

const cpu = process.cpuUsage();
process.stdout.write(`RESULT ${JSON.stringify({ rows, warnings, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
