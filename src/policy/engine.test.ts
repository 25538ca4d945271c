import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { PolicyEngine } from './index.js';

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
