// `portcullis validate` and `serve` on good and bad config files: bad ones exit non-zero naming the field.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, writeConfig } from '../helpers/gateway.js';
import { STDIO_FIXTURE, tempDir } from '../helpers/paths.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';

function goodConfig(dir: string): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    auth: { mode: 'jwt', issuer: 'https://idp.example', audience: 'portcullis', jwks: { file: join(dir, 'jwks.json') } },
    policy: { bundle: join(dir, 'policy.tar.gz') },
    servers: [
      { id: 'web', url: 'http://127.0.0.1:9/mcp', labels: { trust: 'trusted' } },
      { id: 'local', command: process.execPath, args: [STDIO_FIXTURE] },
    ],
    audit: { file: join(dir, 'audit.jsonl') },
  };
}

/** goodConfig with one change applied. */
function mutated(dir: string, change: (c: any) => void): Record<string, unknown> {
  const c = structuredClone(goodConfig(dir)) as any;
  change(c);
  return c;
}

const cases: Array<{ name: string; change: (c: any) => void; field: RegExp }> = [
  { name: 'a server url that is not a URL', change: (c) => (c.servers[0].url = 'not a url'), field: /servers\[0\]\.url/ },
  { name: 'an unknown top-level key', change: (c) => (c.listne = { port: 1 }), field: /listne: unknown field/ },
  { name: 'an unknown key inside a server', change: (c) => (c.servers[1].colour = 'red'), field: /servers\[1\]\.colour: unknown field/ },
  { name: 'a bad auth.mode', change: (c) => (c.auth.mode = 'magic'), field: /auth\.mode: must be one of "jwt", "none", "dev"/ },
  { name: 'jwt mode without jwks', change: (c) => delete c.auth.jwks, field: /auth\.jwks: is required/ },
  { name: 'a server with both url and command', change: (c) => (c.servers[0].command = 'node'), field: /servers\[0\]: must set exactly one of the alternatives/ },
  { name: 'a duplicate server id', change: (c) => (c.servers[1].id = 'web'), field: /servers\[1\]\.id: duplicate server id 'web'/ },
  { name: 'a port out of range', change: (c) => (c.listen.port = 70000), field: /listen\.port/ },
];

type CliResult = Awaited<ReturnType<typeof runCli>>;

describe('config validation', () => {
  const scope = new Scope();
  let dir: string;
  // Every CLI run is independent: start them all at once in before(), assert on the results in the tests.
  const results = new Map<string, Promise<CliResult>>();
  const files = new Map<string, string>();
  const run = (key: string, args: string[]) => results.set(key, runCli(args));
  const result = (key: string) => results.get(key)!;

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    // validate reads the key set as serve does: the good config's jwks.file must exist.
    await createIssuer(dir);
    run('good', ['validate', '--config', writeConfig(dir, goodConfig(dir), 'good.yaml')]);
    for (const tc of cases) {
      const file = writeConfig(dir, mutated(dir, tc.change), `bad-${tc.name.replace(/\W+/g, '-')}.yaml`);
      files.set(tc.name, file);
      run(tc.name, ['validate', '--config', file]);
    }
    const badServe = writeConfig(dir, mutated(dir, (c) => (c.servers[0].url = 'not a url')), 'bad-serve.yaml');
    run('serve-bad/validate', ['validate', '--config', badServe]);
    run('serve-bad/serve', ['serve', '--config', badServe]);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'servers: [\n  - id: x\n    url: "http://a\n');
    run('broken', ['validate', '--config', broken]);
    run('missing', ['validate', '--config', join(dir, 'nope.yaml')]);
  });
  after(async () => {
    await Promise.allSettled(results.values());
    await scope.close();
  });

  it('a good config validates with exit 0', async () => {
    const r = await result('good');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid \(2 servers, auth jwt\)/);
    assert.equal(r.stderr, '');
  });

  for (const tc of cases) {
    it(`validate rejects ${tc.name}, naming the field`, async () => {
      const file = files.get(tc.name)!;
      const r = await result(tc.name);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, tc.field);
      assert.ok(r.stderr.includes(file), 'the message names the file');
    });
  }

  it('serve with a bad config exits non-zero with the same message and never listens', async () => {
    const v = await result('serve-bad/validate');
    const s = await result('serve-bad/serve');
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /servers\[0\]\.url/);
    assert.equal(s.stderr, v.stderr, 'serve and validate report the same problems');
    assert.doesNotMatch(s.stdout, /listening/);
  });

  it('a file that is not YAML, and a missing file, are reported and exit non-zero', async () => {
    const r = await result('broken');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /YAML/);
    const m = await result('missing');
    assert.notEqual(m.code, 0);
    assert.match(m.stderr, /cannot read file/);
  });
});
