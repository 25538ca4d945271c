// Dependencies point one way, checked mechanically (as a compiler checks crate boundaries): no import circles, the
// configuration knows no stage or transport, stages know neither the pipeline nor a transport, and the pipeline
// knows no transport. The graph is madge's (the same tool the request-core issue measured with).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import madge from 'madge';
import { ROOT } from '../helpers/paths.js';

const STAGES = ['identity', 'catalog', 'policy', 'approval', 'credentials', 'validation', 'upstream', 'redaction', 'audit', 'quota', 'telemetry'];
/** What each top-level folder of src/ may import, besides itself. */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  protocol: ['errors'],
  config: ['errors', 'protocol'],
  ...Object.fromEntries(STAGES.map((s) => [s, ['errors', 'protocol', 'config', ...STAGES]])),
  pipeline: ['errors', 'protocol', 'config', ...STAGES],
  transport: ['errors', 'protocol', 'config', 'pipeline', ...STAGES],
  cli: ['errors', 'protocol', 'config', 'pipeline', 'transport', 'app', 'main', ...STAGES],
};

const graph = await madge(join(ROOT, 'src'), {
  fileExtensions: ['ts'],
  excludeRegExp: [/\.test\.ts$/],
  tsConfig: join(ROOT, 'tsconfig.json'),
  detectiveOptions: { ts: { skipTypeImports: false } },
});

const folderOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : file.replace(/\.ts$/, ''));

describe('architecture', () => {
  it('has no import circles', () => {
    assert.deepEqual(graph.circular(), []);
  });

  it('imports point one way between folders', () => {
    const bad: string[] = [];
    for (const [file, deps] of Object.entries(graph.obj())) {
      const from = folderOf(file);
      const allowed = ALLOWED[from];
      if (!allowed) continue; // app.ts and main.ts compose everything
      for (const dep of deps) {
        const to = folderOf(dep);
        if (to !== from && !allowed.includes(to)) bad.push(`${file} -> ${dep}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('sees the whole source tree (the check is not vacuous)', () => {
    const files = Object.keys(graph.obj());
    assert.ok(files.length > 80, `${files.length} files`);
    assert.ok(files.includes('pipeline/methods.ts') && files.includes('transport/mcp-endpoint.ts'));
  });
});
