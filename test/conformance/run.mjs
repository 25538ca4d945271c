#!/usr/bin/env node
// Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios) against the
// conformance fixture, directly or through the Portcullis gateway, and compares the outcome with
// test/conformance/expected-failures.yaml. Runs under the system Node (20); the suite itself needs Node >= 22
// and is run with the Node 22 binary from the `node` dev dependency (node_modules/node/bin/node).
//
//   node test/conformance/run.mjs [--through-gateway] [--tap FILE] [--suite active|all|pending]
//                                 [--scenario NAME]... [--jobs N] [--timeout SECONDS] [--out DIR] [--verbose]
//
// Exit status: 0 when every scenario passed or failed as expected; 1 on an unexpected failure; 2 on bad usage.
// See test/conformance/README.md.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------------------
// Options

const USAGE = `usage: node test/conformance/run.mjs [options]
  --through-gateway     run the suite through the Portcullis gateway (dist/ must be built: npm run build)
  --tap FILE            also write the TAP report to FILE
  --suite NAME          suite of the conformance CLI: active (default), all or pending
  --scenario NAME       run only this scenario (repeatable)
  --jobs N              scenarios run at once (default 3)
  --timeout SECONDS     per-scenario time limit (default 120)
  --expected FILE       expected failures (default test/conformance/expected-failures.yaml)
  --out DIR             where logs, configs and per-scenario results go (default .run/conformance/<mode>)
  --gateway-root DIR    a built Portcullis checkout to run the gateway from (default: this one)
  --json-response       start the fixture with --json-response (POSTs answered with JSON, not SSE); the
                        expected failures are then read from the "<mode>-json-response" list
  --verbose             echo the output of the fixture, the gateway and the suite
`;

function parseArgs(argv) {
  const o = {
    gateway: false,
    tap: null,
    suite: 'active',
    scenarios: [],
    jobs: 3,
    timeoutSec: 120,
    expected: path.join(HERE, 'expected-failures.yaml'),
    out: null,
    gatewayRoot: ROOT,
    jsonResponse: false,
    verbose: false,
  };
  const val = (i, flag) => {
    if (i >= argv.length) usageError(`${flag} needs a value`);
    return argv[i];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--through-gateway') o.gateway = true;
    else if (a === '--tap') o.tap = path.resolve(val(++i, a));
    else if (a === '--suite') o.suite = val(++i, a);
    else if (a === '--scenario') o.scenarios.push(val(++i, a));
    else if (a === '--jobs') o.jobs = Number(val(++i, a));
    else if (a === '--timeout') o.timeoutSec = Number(val(++i, a));
    else if (a === '--expected') o.expected = path.resolve(val(++i, a));
    else if (a === '--out') o.out = path.resolve(val(++i, a));
    else if (a === '--gateway-root') o.gatewayRoot = path.resolve(val(++i, a));
    else if (a === '--json-response') o.jsonResponse = true;
    else if (a === '--verbose' || a === '-v') o.verbose = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else usageError(`unknown argument ${a}`);
  }
  if (!['active', 'all', 'pending'].includes(o.suite)) usageError(`--suite must be active, all or pending`);
  if (!Number.isInteger(o.jobs) || o.jobs < 1) usageError('--jobs must be a positive integer');
  if (!(o.timeoutSec > 0)) usageError('--timeout must be a positive number');
  o.mode = (o.gateway ? 'through-gateway' : 'direct') + (o.jsonResponse ? '-json-response' : '');
  o.out ??= path.join(ROOT, '.run', 'conformance', o.mode);
  return o;
}

function usageError(msg) {
  process.stderr.write(`run.mjs: ${msg}\n${USAGE}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------------------
// Child processes: every one started is tracked and killed (with its process group) on any way out.

const children = new Set();

function start(name, cmd, args, { cwd = ROOT, logFile, echo = opts.verbose } = {}) {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: process.env });
  child.label = name;
  children.add(child);
  const log = logFile ? fs.createWriteStream(logFile) : null;
  child.logClosed = log ? new Promise((resolve) => log.on('close', resolve)) : Promise.resolve();
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (d) => {
      log?.write(d);
      if (echo) process.stderr.write(prefixLines(`[${name}] `, d.toString()));
    });
  }
  child.done = new Promise((resolve) => {
    child.on('error', (err) => {
      children.delete(child);
      log?.end();
      resolve({ code: null, signal: null, error: err });
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      // stdio may still be draining: end the log after it closes.
      child.on('close', () => log?.end());
      resolve({ code, signal });
    });
  });
  return child;
}

function prefixLines(prefix, text) {
  return text.replace(/^(?=.)/gm, prefix);
}

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group: detached children lead their own
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

async function stop(child, graceMs = 3000) {
  if (!children.has(child)) return;
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await child.done;
  clearTimeout(timer);
}

let stopping = false;

async function stopAll() {
  stopping = true;
  await Promise.all([...children].map((c) => stop(c)));
}

// Last resort, when the process is leaving without having cleaned up (uncaught error, process.exit).
process.on('exit', () => {
  for (const c of children) killGroup(c, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`run.mjs: ${sig}, stopping ${children.size} process(es)\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

/** Resolves with the first match of re in the child's stdout, or rejects on exit or after timeoutMs. */
function waitForLine(child, re, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} was not ready within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

// ---------------------------------------------------------------------------------------------------------
// The Node 22 binary and the conformance CLI

function findNode22() {
  const candidates = [
    process.env.CONFORMANCE_NODE,
    path.join(ROOT, 'node_modules', 'node', 'bin', 'node'),
    path.join(ROOT, 'node_modules', '.bin', 'node'),
  ].filter(Boolean);
  for (const bin of candidates) {
    if (!fs.existsSync(bin)) continue;
    let version;
    try {
      version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      continue;
    }
    if (/^v2[2-9]\.|^v[3-9]\d\./.test(version)) return { bin, version };
  }
  throw new Error(
    `no Node >= 22 binary found (looked at ${candidates.join(', ')}); run npm ci (the "node" dev dependency provides it) or set CONFORMANCE_NODE`,
  );
}

function findConformanceCli() {
  const pkgFile = require.resolve('@modelcontextprotocol/conformance/package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.conformance;
  if (!bin) throw new Error(`${pkgFile} names no conformance bin`);
  return { cli: path.join(path.dirname(pkgFile), bin), version: pkg.version };
}

// ---------------------------------------------------------------------------------------------------------
// Expected failures

function loadExpected(file, mode) {
  if (!fs.existsSync(file)) return new Map();
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
  const list = doc[mode] ?? [];
  if (!Array.isArray(list)) throw new Error(`${file}: "${mode}" must be a list`);
  const map = new Map();
  for (const e of list) {
    if (typeof e === 'string') map.set(e, '(no reason given)');
    else if (e && typeof e.scenario === 'string') map.set(e.scenario, String(e.reason ?? '(no reason given)').trim());
    else throw new Error(`${file}: each "${mode}" entry is a scenario name or {scenario, reason}`);
  }
  return map;
}

// ---------------------------------------------------------------------------------------------------------
// Scenario list: the CLI does not print which scenarios a suite holds without running them, so the suite is run
// once against a stub that answers 503 to everything (each scenario fails at once) and the names are read from
// its "=== Running scenario: NAME ===" lines.

async function listScenarios(node22, cli, suite) {
  const stub = createServer((req, res) => {
    req.resume();
    res.writeHead(503, { 'content-type': 'text/plain' }).end('scenario discovery stub');
  });
  await new Promise((r) => stub.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${stub.address().port}/mcp`;
  try {
    const child = start('discover', node22, [cli, 'server', '--url', url, '--suite', suite], { echo: false });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 60_000);
    await child.done;
    clearTimeout(timer);
    const names = [...out.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((m) => m[1]);
    const declared = /Running \S+ suite \((\d+) scenarios\)/.exec(out);
    if (names.length === 0 || (declared && Number(declared[1]) !== names.length)) {
      throw new Error(`could not list the ${suite} suite (got ${names.length} names):\n${out.slice(-2000)}`);
    }
    return names;
  } finally {
    stub.closeAllConnections?.();
    stub.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// One scenario: its own CLI process, its own result directory, a time limit.

async function runScenario(node22, cli, url, scenario, dir) {
  const resultDir = path.join(dir, 'results', scenario);
  fs.mkdirSync(resultDir, { recursive: true });
  const logFile = path.join(resultDir, 'cli.log');
  const t0 = Date.now();
  const child = start(`suite:${scenario}`, node22, [cli, 'server', '--url', url, '--scenario', scenario, '-o', resultDir], {
    logFile,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stop(child);
  }, opts.timeoutSec * 1000);
  const exit = await child.done;
  clearTimeout(timer);
  const ms = Date.now() - t0;
  await Promise.race([child.logClosed, new Promise((r) => setTimeout(r, 2000))]);

  const checksFile = findChecks(resultDir);
  let checks = null;
  if (checksFile) {
    try {
      checks = JSON.parse(fs.readFileSync(checksFile, 'utf8'));
    } catch {
      checks = null;
    }
  }
  const problems = [];
  if (timedOut) problems.push(`timed out after ${opts.timeoutSec}s`);
  if (exit.error) problems.push(`could not run the suite: ${exit.error.message}`);
  if (!Array.isArray(checks)) {
    problems.push(`no checks.json (suite exit ${exit.code ?? exit.signal}); see ${path.relative(ROOT, logFile)}`);
    const tail = safeTail(logFile, 800);
    if (tail) problems.push(`suite output ends: ${tail}`);
    checks = [];
  } else if (checks.filter((c) => c.status === 'SUCCESS' || c.status === 'FAILURE').length === 0) {
    const warnings = checks.filter((c) => c.status === 'WARNING');
    if (warnings.length === 0) problems.push('the scenario recorded no pass/fail check');
  }
  const failures = checks.filter((c) => c.status === 'FAILURE');
  const warnings = checks.filter((c) => c.status === 'WARNING');
  for (const c of [...failures, ...warnings]) {
    problems.push(`${c.status} ${c.id}: ${c.errorMessage ?? c.description ?? ''}`.trim());
  }
  return {
    scenario,
    ok: problems.length === 0,
    ms,
    counts: {
      success: checks.filter((c) => c.status === 'SUCCESS').length,
      failure: failures.length,
      warning: warnings.length,
    },
    problems,
    resultDir,
  };
}

function findChecks(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const f = findChecks(p);
      if (f) return f;
    } else if (entry.name === 'checks.json') return p;
  }
  return null;
}

function safeTail(file, n) {
  try {
    return fs.readFileSync(file, 'utf8').slice(-n).trim().replace(/\s+/g, ' ');
  } catch {
    return '';
  }
}

async function pool(items, n, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------------------
// Fixture and gateway

async function startFixture(dir) {
  const args = [path.join(HERE, 'fixture-server.mjs'), '--port', '0', ...(opts.jsonResponse ? ['--json-response'] : [])];
  const child = start('fixture', process.execPath, args, {
    logFile: path.join(dir, 'fixture.log'),
  });
  const m = await waitForLine(child, /^READY (\d+)$/m, 20_000, 'the fixture');
  return { child, url: `http://127.0.0.1:${m[1]}/mcp` };
}

async function startGateway(dir, fixtureUrl) {
  const gwRoot = opts.gatewayRoot;
  const main = path.join(gwRoot, 'dist', 'main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const bundle = path.join(dir, 'allow-all.tar.gz');
  try {
    execFileSync(process.execPath, [main, 'policy', 'build', 'policies-allow-all', '-o', bundle], {
      cwd: gwRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new Error(`policy build policies-allow-all failed: ${err.stderr?.toString().trim() || err.message}`);
  }
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    auth: { mode: 'none' },
    policy: { bundle },
    servers: [{ id: 'conf', url: fixtureUrl }],
    audit: { file: path.join(dir, 'audit.jsonl') },
    log: { level: 'debug' },
    shutdown: { graceSeconds: 1 },
  };
  const configFile = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(configFile, `# written by test/conformance/run.mjs\n${YAML.stringify(config)}`);
  const child = start('gateway', process.execPath, [main, 'serve', '--config', configFile], {
    cwd: gwRoot,
    logFile: path.join(dir, 'gateway.log'),
  });
  const m = await waitForLine(child, /Portcullis is listening on (http:\/\/\S+)/, 30_000, 'the gateway');
  const base = m[1].replace(/\/+$/, '');
  return { child, url: `${base}/conf`, configFile };
}

// ---------------------------------------------------------------------------------------------------------
// Reports

function tapReport(results, expected, meta) {
  const lines = ['TAP version 13', `# MCP conformance (${meta.mode}) ${meta.suiteVersion} against ${meta.url}`];
  lines.push(`1..${results.length}`);
  results.forEach((r, i) => {
    const reason = expected.get(r.scenario);
    const n = i + 1;
    if (r.ok) lines.push(`ok ${n} - ${r.scenario}`);
    else if (reason !== undefined) lines.push(`not ok ${n} - ${r.scenario} # TODO expected failure: ${oneLine(reason)}`);
    else lines.push(`not ok ${n} - ${r.scenario}`);
    if (!r.ok || reason !== undefined) {
      lines.push('  ---');
      lines.push(`  duration_ms: ${r.ms}`);
      if (r.ok && reason !== undefined) lines.push(`  note: ${JSON.stringify('passes, though listed in expected-failures.yaml: remove the entry')}`);
      if (r.problems.length > 0) {
        lines.push('  problems:');
        for (const p of r.problems) lines.push(`    - ${JSON.stringify(p)}`);
      }
      lines.push('  ...');
    }
  });
  const s = summarize(results, expected);
  lines.push(`# tests ${results.length}`, `# pass ${s.pass}`, `# fail ${s.fail}`, `# todo ${s.xfail}`);
  return `${lines.join('\n')}\n`;
}

function summarize(results, expected) {
  let pass = 0;
  let fail = 0;
  let xfail = 0;
  let xpass = 0;
  for (const r of results) {
    const isExpected = expected.has(r.scenario);
    if (r.ok) {
      pass++;
      if (isExpected) xpass++;
    } else if (isExpected) xfail++;
    else fail++;
  }
  return { pass, fail, xfail, xpass };
}

const oneLine = (s) => String(s).replace(/\s+/g, ' ').trim();

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  fs.rmSync(opts.out, { recursive: true, force: true });
  fs.mkdirSync(opts.out, { recursive: true });

  const expected = loadExpected(opts.expected, opts.mode);
  const { bin: node22, version: node22Version } = findNode22();
  const { cli, version: suiteVersion } = findConformanceCli();
  console.log(`conformance: @modelcontextprotocol/conformance ${suiteVersion} (${opts.suite} suite) under Node ${node22Version} (${path.relative(ROOT, node22) || node22}); mode ${opts.mode}`);

  const scenarios = opts.scenarios.length > 0 ? opts.scenarios : await listScenarios(node22, cli, opts.suite);

  const fixture = await startFixture(opts.out);
  console.log(`conformance: fixture at ${fixture.url}`);
  const services = [['fixture', fixture.child, 'fixture.log']];
  let url = fixture.url;
  if (opts.gateway) {
    const gw = await startGateway(opts.out, fixture.url);
    services.push(['gateway', gw.child, 'gateway.log']);
    url = gw.url;
    console.log(`conformance: gateway at ${url} (config ${path.relative(ROOT, gw.configFile)})`);
  }

  // A service that dies mid-run makes every later scenario fail: say so where it happens, and in the summary.
  const died = [];
  let finished = false;
  for (const [name, child, log] of services) {
    child.once('exit', (code, signal) => {
      if (finished || stopping) return;
      const what = `the ${name} exited during the run (code ${code}, signal ${signal}) at ${new Date().toISOString()}; see ${path.relative(ROOT, path.join(opts.out, log))}`;
      died.push(what);
      console.log(`!!    ${what}`);
    });
  }

  console.log(`conformance: ${scenarios.length} scenarios, ${opts.jobs} at a time, ${opts.timeoutSec}s each at most\n`);
  const results = await pool(scenarios, opts.jobs, async (scenario) => {
    const r = await runScenario(node22, cli, url, scenario, opts.out);
    const reason = expected.get(scenario);
    const status = r.ok ? (reason !== undefined ? 'XPASS' : 'PASS') : reason !== undefined ? 'XFAIL' : 'FAIL';
    const counts = `${r.counts.success} ok, ${r.counts.failure} failed, ${r.counts.warning} warnings`;
    console.log(`${status.padEnd(5)} ${scenario.padEnd(32)} ${String(r.ms).padStart(6)} ms  (${counts})`);
    if (status === 'XPASS') console.log(`      passes, though expected to fail: remove it from ${path.relative(ROOT, opts.expected)}`);
    if (status === 'XFAIL') console.log(`      expected: ${oneLine(reason)}`);
    for (const p of r.problems) console.log(`      ${p}`);
    return r;
  });

  // The issue asks for DNS-rebinding protection on the aggregate endpoint as well: the same scenario against /mcp.
  if (opts.gateway && (opts.scenarios.length === 0 || opts.scenarios.includes('dns-rebinding-protection'))) {
    const aggregate = url.replace(/\/mcp\/[^/]+$/, '/mcp');
    const r = await runScenario(node22, cli, aggregate, 'dns-rebinding-protection', path.join(opts.out, 'aggregate'));
    r.scenario = 'dns-rebinding-protection@/mcp';
    const counts = `${r.counts.success} ok, ${r.counts.failure} failed, ${r.counts.warning} warnings`;
    console.log(`${(r.ok ? 'PASS' : 'FAIL').padEnd(5)} ${r.scenario.padEnd(32)} ${String(r.ms).padStart(6)} ms  (${counts})`);
    for (const p of r.problems) console.log(`      ${p}`);
    results.push(r);
  }

  finished = true;
  await stopAll();

  const meta = { mode: opts.mode, suiteVersion, url };
  const tap = tapReport(results, expected, meta);
  fs.writeFileSync(path.join(opts.out, 'conformance.tap'), tap);
  if (opts.tap) {
    fs.mkdirSync(path.dirname(opts.tap), { recursive: true });
    fs.writeFileSync(opts.tap, tap);
  }
  const s = summarize(results, expected);
  const stale = [...expected.keys()].filter((k) => !scenarios.includes(k));
  console.log('');
  for (const d of died) console.log(`# ${d}`);
  if (s.xpass > 0) console.log(`# ${s.xpass} expected failure(s) now pass: update ${path.relative(ROOT, opts.expected)}`);
  if (stale.length > 0 && opts.scenarios.length === 0 && opts.suite === 'all') {
    console.log(`# expected-failures entries naming no scenario of the suite: ${stale.join(', ')}`);
  }
  console.log(`# tests ${results.length}`);
  console.log(`# pass ${s.pass}`);
  console.log(`# fail ${s.fail}`);
  console.log(`# todo ${s.xfail}`);
  console.log(`# duration_ms ${Date.now() - t0}`);
  console.log(`# logs and per-scenario checks.json: ${path.relative(ROOT, opts.out)}`);
  return s.fail === 0 ? 0 : 1;
}

main()
  .then(async (code) => {
    await stopAll();
    process.exitCode = code;
  })
  .catch(async (err) => {
    process.stderr.write(`run.mjs: ${err?.stack ?? err}\n`);
    await stopAll();
    // A run that could not happen still leaves a TAP file that counts as a failure.
    const tap = `TAP version 13\n1..1\nnot ok 1 - conformance ${opts.mode} could not run\n  ---\n  error: ${JSON.stringify(String(err?.message ?? err))}\n  ...\n# tests 1\n# pass 0\n# fail 1\n`;
    try {
      if (opts.tap) {
        fs.mkdirSync(path.dirname(opts.tap), { recursive: true });
        fs.writeFileSync(opts.tap, tap);
      }
    } catch {
      /* best effort */
    }
    console.log('# pass 0');
    console.log('# fail 1');
    process.exitCode = 1;
  });
