import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { buildConfig, ConfigError, loadConfig } from './index.js';

const base = { policy: { bundle: 'b.tar.gz' }, servers: [{ id: 'notes', url: 'http://127.0.0.1:9001/mcp' }] };

function problemsOf(doc: unknown): string[] {
  try {
    buildConfig(doc, 'test.yaml', '/tmp');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('config was accepted');
}

describe('config validation names the bad field', () => {
  const rows: Array<{ note: string; doc: unknown; field: string }> = [
    { note: 'servers missing', doc: { policy: { bundle: 'x' } }, field: 'servers: is required' },
    { note: 'unknown top-level key', doc: { ...base, lisen: {} }, field: 'lisen: unknown field' },
    { note: 'bad url', doc: { ...base, servers: [{ id: 'a', url: 'not a url' }] }, field: 'servers[0].url' },
    { note: 'url and command both', doc: { ...base, servers: [{ id: 'a', url: 'http://x/mcp', command: 'node' }] }, field: 'servers[0]' },
    { note: 'bad server id', doc: { ...base, servers: [{ id: 'A__b', url: 'http://x/mcp' }] }, field: 'servers[0].id' },
    { note: 'duplicate ids', doc: { ...base, servers: [{ id: 'a', url: 'http://x/mcp' }, { id: 'a', command: 'node' }] }, field: "servers[1].id: duplicate server id 'a'" },
    { note: 'bad auth mode', doc: { ...base, auth: { mode: 'magic' } }, field: 'auth.mode: must be one of' },
    { note: 'jwt without issuer', doc: { ...base, auth: { mode: 'jwt', audience: 'a', jwks: { file: 'k.json' } } }, field: 'auth.issuer: is required' },
    { note: 'port out of range', doc: { ...base, listen: { port: 70000 } }, field: 'listen.port' },
    { note: 'unknown server key', doc: { ...base, servers: [{ id: 'a', url: 'http://x/mcp', lables: {} }] }, field: 'servers[0].lables: unknown field' },
  ];
  for (const r of rows) {
    it(r.note, () => {
      const problems = problemsOf(r.doc);
      assert.ok(problems.some((p) => p.includes(r.field)), `expected a problem naming ${r.field}, got ${JSON.stringify(problems)}`);
    });
  }

  it('applies defaults and freezes', () => {
    const cfg = buildConfig(base, 'test.yaml', '/etc/portcullis');
    assert.equal(cfg.listen.port, 8080);
    assert.equal(cfg.auth.mode, 'none');
    assert.equal(cfg.policy.bundle, '/etc/portcullis/b.tar.gz');
    assert.equal(cfg.servers[0]!.timeoutMs, 60000);
    assert.ok(Object.isFrozen(cfg.servers[0]));
  });

  it('every example config validates', () => {
    const found = readdirSync('examples', { recursive: true, encoding: 'utf8' }).filter((f) => /portcullis.*\.ya?ml$/.test(f));
    assert.ok(found.length > 0);
    for (const f of found) loadConfig(`examples/${f}`);
  });

  it('every schema property has a description (docs are generated from them)', () => {
    const schema = JSON.parse(readFileSync('src/config/config.schema.json', 'utf8')) as Record<string, unknown>;
    const missing: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.properties) {
        for (const [k, v] of Object.entries(n.properties as Record<string, Record<string, unknown>>)) {
          if (typeof v.description !== 'string') missing.push(`${path}${k}`);
          walk(v, `${path}${k}.`);
        }
      }
      if (n.items) walk(n.items, `${path}[].`);
    };
    walk(schema, '');
    assert.deepEqual(missing, []);
  });
});
