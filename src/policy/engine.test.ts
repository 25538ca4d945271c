import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PolicyEngine, providedBuiltins } from './index.js';

const good = () => readFileSync('bundles/policy.tar.gz');

describe('policy engine', () => {
  it('no bundle: every evaluation fails closed with a reason', () => {
    const e = new PolicyEngine({ timeoutMs: 50, maxMemoryPages: 256 });
    const r = e.evaluate('portcullis/decision', {});
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /no policy bundle/);
  });

  const corrupt: Array<{ note: string; bytes: () => Buffer; error: RegExp }> = [
    { note: 'not gzip', bytes: () => Buffer.from('garbage'), error: /gzip/ },
    { note: 'gzip of garbage', bytes: () => gzipSync(Buffer.alloc(1024, 7)), error: /tar|policy.wasm/ },
    { note: 'truncated archive', bytes: () => good().subarray(0, 200), error: /./ },
  ];
  for (const c of corrupt) {
    it(`rejects a corrupt bundle (${c.note}) and keeps the last good one`, async () => {
      const e = new PolicyEngine({ timeoutMs: 50, maxMemoryPages: 256 });
      const first = await e.activate(good());
      await assert.rejects(e.activate(c.bytes()), c.error);
      assert.equal(e.bundle?.generation, first.generation);
      assert.equal(e.evaluate('portcullis/visible', { tools: [], subject: { roles: [] } }).ok, true);
    });
  }

  it('an evaluation over budget is refused', async () => {
    const e = new PolicyEngine({ timeoutMs: 0.000001, maxMemoryPages: 256 });
    await e.activate(good());
    const r = e.evaluate('portcullis/visible', { tools: [], subject: { roles: [] } });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /budget/);
  });

  it('an input larger than the memory cap fails closed instead of throwing', async () => {
    const e = new PolicyEngine({ timeoutMs: 5000, maxMemoryPages: 32 });
    await e.activate(good());
    const r = e.evaluate('portcullis/decision', { arguments: { blob: 'x'.repeat(4 * 1024 * 1024) } });
    assert.equal(r.ok, false);
  });
});

describe('policy engine: hostile strings and missing builtins', () => {
  const subject = { anonymous: false, id: 'alice', roles: ['engineer'], groups: [], scopes: [], claims: {} };
  const server = { id: 'notes', transport: 'http', labels: {} };

  it('a lone surrogate in a tool description is listed normally, not an evaluation error', async () => {
    const e = new PolicyEngine({ timeoutMs: 5000, maxMemoryPages: 256 });
    await e.activate(good());
    const tools = [{ key: 'notes__echo', name: 'echo', description: 'bad \ud800 text', annotations: {}, server }];
    const r = e.evaluate('portcullis/visible', { action: 'tools/list', subject, tools, request: {} });
    assert.equal(r.ok, true, r.ok ? '' : r.reason);
    assert.deepEqual(r.ok ? r.value : null, ['notes__echo']);
  });

  it('a lone surrogate in call arguments is decided normally', async () => {
    const e = new PolicyEngine({ timeoutMs: 5000, maxMemoryPages: 256 });
    await e.activate(good());
    const tool = { key: 'notes__echo', name: 'echo', description: 'echo', annotations: { destructiveHint: false }, inputSchema: { type: 'object' } };
    const r = e.evaluate('portcullis/decision', { action: 'tools/call', subject, server, tool, arguments: { text: '\ud800' }, request: {} });
    assert.equal(r.ok, true, r.ok ? '' : r.reason);
    assert.equal((r.ok ? (r.value as { outcome: string }) : { outcome: '' }).outcome, 'allow');
  });

  it('a builtin the gateway does not provide: the reason names it and the activation reports it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-builtin-'));
    writeFileSync(
      join(dir, 'p.rego'),
      'package portcullis\n\nvisible contains t.key if some t in input.tools\n\ndecision := {"outcome": "allow"} if {\n  r := http.send({"method": "GET", "url": "http://127.0.0.1:1/"})\n  r.status_code == 200\n}\n',
    );
    const out = join(dir, 'b.tar.gz');
    const r = spawnSync('.tools/bin/opa', ['build', '-b', '-t', 'wasm', '-e', 'portcullis/visible', '-e', 'portcullis/decision', '-o', out, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const e = new PolicyEngine({ timeoutMs: 5000, maxMemoryPages: 256 });
    const info = await e.activate(readFileSync(out));
    assert.deepEqual(info.missingBuiltins, ['http.send']);
    const d = e.evaluate('portcullis/decision', { action: 'tools/call', subject, arguments: {} });
    assert.equal(d.ok, false);
    const reason = d.ok ? '' : d.reason;
    assert.match(reason, /builtin http\.send/);
    assert.match(reason, /policies\/README\.md/);
    assert.doesNotMatch(reason, /unknown error|\.rego/);
    assert.match(String(d.ok ? '' : (d.cause as Error).message), /http\.send/);
  });

  it('providedBuiltins() includes every builtin opa-wasm implements in JavaScript', () => {
    // The SDK does not export its list; read its builtins module by path (exports forbid the subpath).
    const require = createRequire(import.meta.url);
    const main = require.resolve('@open-policy-agent/opa-wasm');
    const sdk = Object.keys(require(join(dirname(main), 'builtins', 'index.js')) as Record<string, unknown>).sort();
    assert.ok(sdk.length > 0);
    // A superset: the gateway may add builtins of its own.
    for (const name of sdk) assert.ok(providedBuiltins().has(name), `${name} is implemented by opa-wasm but not listed`);
  });
});
