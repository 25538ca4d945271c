import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import winston from 'winston';
import { BundleWatcher, PolicyEngine } from './index.js';

describe('bundle watcher', () => {
  it('counts every rejected bundle and tells the hook; the last good bundle keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-watch-'));
    try {
      const path = join(dir, 'policy.tar.gz');
      writeFileSync(path, readFileSync('bundles/policy.tar.gz'));
      const engine = new PolicyEngine({ timeoutMs: 1000, maxMemoryPages: 256 });
      const reasons: string[] = [];
      const w = new BundleWatcher({ path, pollIntervalMs: 60_000, engine, log: winston.createLogger({ silent: true }), onReject: (r) => reasons.push(r) });
      await w.check();
      assert.equal(w.rejections, 0);
      const good = engine.bundle?.generation;
      writeFileSync(path, 'not a bundle at all');
      await w.check();
      writeFileSync(path, 'still not a bundle, and longer');
      await w.check();
      assert.equal(w.rejections, 2);
      assert.equal(reasons.length, 2);
      assert.match(reasons[0]!, /gzip/);
      assert.equal(engine.bundle?.generation, good);
      assert.equal(w.status(), 'warn');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
