#!/usr/bin/env node
// The official suite's frozen requirement sets (`@modelcontextprotocol/conformance` 0.2.0-alpha.12, installed as
// the `conformance-next` alias beside the 0.1.16 that run.mjs uses) through the gateway, on Node 22:
//
//   node test/conformance/requirements.mjs --revision 2026-07-28 [--upstream fixture|everything] [--tap FILE]
//
// `fixture` is this project's conformance fixture (a 2025 server: 2026-07-28 clients are served by the gateway's
// translation). `everything` is the MCP project's reference server (2025 only, third party): scenarios that call
// tools only the fixture has are listed in NEEDS_FIXTURE_TOOLS and reported as TODO there. Every other scored
// scenario must pass; scenarios the suite does not score for the revision (extensions, pending) are reported
// as TODO with their result, and never fail the run.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : args[i + 1];
};
const revision = arg('--revision', '2026-07-28');
const upstream = arg('--upstream', 'fixture');
const tapFile = arg('--tap');
const out = path.join(ROOT, '.run', 'conformance-requirements', `${revision}-${upstream}`);

// Scenarios whose checks call diagnostic tools or prompts only the project's fixture provides (and every
// input-required-result-* scenario, which calls test_input_required_result_* tools).
const NEEDS_FIXTURE_TOOLS = new Set([
  'server-stateless',
  'completion-complete',
  'tools-list',
  'tools-call-simple-text',
  'tools-call-image',
  'tools-call-audio',
  'tools-call-embedded-resource',
  'tools-call-mixed-content',
  'tools-call-error',
  'tools-call-with-progress',
  'tools-call-with-logging',
  'tools-call-sampling',
  'tools-call-elicitation',
  'elicitation-sep1034-defaults',
  'elicitation-sep1330-enums',
  'server-sse-multiple-streams',
  'resources-list',
  'resources-read-text',
  'resources-read-binary',
  'resources-templates-read',
  'resources-subscribe',
  'resources-unsubscribe',
  'prompts-list',
  'prompts-get-simple',
  'prompts-get-with-args',
  'prompts-get-embedded-resource',
  'prompts-get-with-image',
  'caching',
  'sep-2164-resource-not-found',
]);

const children = [];
function start(cmd, argv, env = {}, logName) {
  const log = fs.openSync(path.join(out, logName), 'w');
  const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', log] });
  let text = '';
  child.stdout.on('data', (c) => {
    text += c;
    fs.appendFileSync(path.join(out, logName), c);
  });
  children.push(child);
  return { child, output: () => text };
}

async function until(fn, what, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function node22() {
  for (const bin of [process.env.CONFORMANCE_NODE, path.join(ROOT, 'node_modules', 'node', 'bin', 'node')]) {
    if (!bin || !fs.existsSync(bin)) continue;
    const v = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
    if (/^v2[2-9]\./.test(v)) return bin;
  }
  throw new Error('no Node >= 22 (the "node" dev dependency provides it; or set CONFORMANCE_NODE)');
}

async function main() {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  let upstreamUrl;
  if (upstream === 'fixture') {
    const f = start(process.execPath, [path.join(HERE, 'fixture-server.mjs'), '--port', '0'], {}, 'upstream.log');
    const port = await until(() => /READY (\d+)/.exec(f.output())?.[1], 'the fixture');
    upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  } else {
    const port = await freePort();
    start(process.execPath, [path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js'), 'streamableHttp'], { PORT: String(port) }, 'upstream.log');
    upstreamUrl = `http://127.0.0.1:${port}/mcp`;
    await until(() => fetch(upstreamUrl).then(() => true, () => false), 'server-everything');
  }
  const main = path.join(ROOT, 'dist', 'main.js');
  const bundle = path.join(out, 'allow-all.tar.gz');
  execFileSync(process.execPath, [main, 'policy', 'build', 'policies-allow-all', '-o', bundle], { cwd: ROOT, stdio: 'ignore' });
  const configFile = path.join(out, 'gateway.yaml');
  const id = upstream === 'fixture' ? 'conf' : 'everything';
  fs.writeFileSync(
    configFile,
    YAML.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      auth: { mode: 'none' },
      policy: { bundle },
      servers: [{ id, url: upstreamUrl }],
      audit: { file: path.join(out, 'audit.jsonl') },
      shutdown: { graceSeconds: 1 },
    }),
  );
  const gw = start(process.execPath, [main, 'serve', '--config', configFile], {}, 'gateway.log');
  const base = await until(() => /Portcullis is listening on (http:\/\/\S+)/.exec(gw.output())?.[1], 'the gateway');
  const target = `${base}/${id}`;
  const cli = path.join(ROOT, 'node_modules', 'conformance-next', 'dist', 'index.js');
  console.log(`conformance 0.2.0-alpha.12 --requirements ${revision} through ${target} (upstream: ${upstream})`);
  let text = '';
  try {
    text = execFileSync(node22(), [cli, 'server', '--url', target, '--requirements', revision, '-o', path.join(out, 'results')], { encoding: 'utf8', cwd: out, maxBuffer: 64 << 20 });
  } catch (err) {
    text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  fs.writeFileSync(path.join(out, 'conformance.log'), text);
  // "✓ name: 3 passed, 0 failed" per scenario; after "Not scored ..." the unscored ones, "  ✗ name (extension)".
  const [scoredPart, unscoredPart = ''] = text.split(/\nNot scored for [^\n]*\n/);
  const unscored = new Map([...unscoredPart.matchAll(/^\s+([✓✗]) (\S+) \(([^)]*)\)/gm)].map((m) => [m[2], { ok: m[1] === '✓', why: m[3] }]));
  const results = [...scoredPart.matchAll(/^([✓✗]) (\S+): (\d+) passed, (\d+) failed/gm)].map((m) => ({ name: m[2], ok: m[1] === '✓', detail: `${m[3]} passed, ${m[4]} failed` }));
  if (results.length === 0) throw new Error(`no scenario results in the suite's output (see ${path.join(out, 'conformance.log')})`);
  const lines = ['TAP version 13', `1..${results.length}`];
  let pass = 0;
  let fail = 0;
  let todo = 0;
  results.forEach((r, i) => {
    const u = unscored.get(r.name);
    const needsFixture = NEEDS_FIXTURE_TOOLS.has(r.name) || r.name.startsWith('input-required-result-');
    const excused = u ? `not scored for ${revision} (${u.why})` : upstream === 'everything' && needsFixture && !r.ok ? 'needs the fixture tools' : null;
    if (excused) todo++;
    else if (r.ok) pass++;
    else fail++;
    lines.push(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - ${r.name} (${r.detail})${excused ? ` # TODO ${excused}` : ''}`);
    console.log(`${r.ok ? 'PASS' : excused ? 'TODO' : 'FAIL'}  ${r.name.padEnd(52)} ${r.detail}${excused ? `  [${excused}]` : ''}`);
  });
  lines.push(`# tests ${results.length}`, `# pass ${pass}`, `# fail ${fail}`, `# todo ${todo}`);
  if (tapFile) fs.writeFileSync(tapFile, `${lines.join('\n')}\n`);
  console.log(`${revision} through the gateway (${upstream}): ${pass} passed, ${fail} failed, ${todo} reported (not scored or needing fixture tools)`);
  return fail === 0 ? 0 : 1;
}

main()
  .then((code) => (process.exitCode = code))
  .catch((err) => {
    console.error(`conformance requirements: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
  });
