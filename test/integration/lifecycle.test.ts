// Build before start: every secret, key and file is read before anything starts, so a bad config leaves no child
// process behind, and `validate` rejects exactly what `serve` rejects (and starts nothing when it accepts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startGateway, writeConfig } from '../helpers/gateway.js';
import { STDIO_FIXTURE, tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { findPids, waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';

// Environment variables no test machine sets: the secret each bad config names is missing.
const MISSING = `PORTCULLIS_LIFECYCLE_TEST_UNSET_${process.pid}`;

type CliResult = Awaited<ReturnType<typeof runCli>>;

/** The lines of the CLI's own problem report (log lines are JSON; the report is plain text). */
const reportLines = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('invalid config'));

describe('lifecycle: build before start', () => {
  const scope = new Scope();
  let dir: string;
  let jwksFile: string;
  let bundle: string;

  /** A good config: jwt auth with a real key set, an allow-all bundle, one STDIO upstream recording to `marker`. */
  function config(marker: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      listen: { host: '127.0.0.1', port: 0 },
      log: { level: 'info' },
      auth: { mode: 'jwt', issuer: 'https://idp.test.example', audience: 'portcullis', jwks: { file: jwksFile } },
      policy: { bundle },
      servers: [{ id: 'local', command: process.execPath, args: [STDIO_FIXTURE, '--record', marker] }],
      audit: { file: join(dir, `${marker.split('/').pop()}.audit.jsonl`) },
      ...extra,
    };
  }

  before(async () => {
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    jwksFile = (await createIssuer(dir)).jwksFile;
    bundle = buildAllowAllBundle(dir);
  });
  after(() => scope.close());

  for (const section of ['approvals', 'quotas'] as const) {
    it(`serve with a missing ${section} secret exits non-zero with one line naming the field, and no STDIO child was ever started`, async () => {
      // The fixture appends a line to its --record file the moment it starts: no file means no child ever ran.
      const marker = join(dir, `child-${section}.jsonl`);
      const extra =
        section === 'approvals'
          ? { approvals: { webhook: { url: 'http://127.0.0.1:9/hook', secretEnv: MISSING } } }
          : { quotas: { store: 'redis', redis: { urlEnv: MISSING }, buckets: { b: { perMinute: 1 } } } };
      const r = await runCli(['serve', '--config', writeConfig(dir, config(marker, extra), `missing-${section}.yaml`)]);
      assert.notEqual(r.code, 0);
      const field = section === 'approvals' ? /approvals\.webhook\.secretEnv/ : /quotas\.redis\.urlEnv/;
      const report = reportLines(r);
      assert.equal(report.length, 1, r.stderr);
      assert.match(report[0]!, field);
      assert.match(report[0]!, new RegExp(MISSING));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.doesNotMatch(r.stdout, /listening/);
      assert.equal(existsSync(marker), false, 'the STDIO upstream was never spawned');
      assert.deepEqual(findPids(marker), [], 'no child of the STDIO upstream is running');
    });
  }

  // Each bad config differs from the good one in one place; validate and serve must report the same problem.
  const bad: Array<{ name: string; change: (c: Record<string, any>, d: string) => void; field: RegExp }> = [
    { name: 'approvals webhook secret env not set', change: (c) => (c.approvals = { webhook: { url: 'http://127.0.0.1:9/hook', secretEnv: MISSING } }), field: /approvals\.webhook\.secretEnv: environment variable .* is not set/ },
    { name: 'quotas redis urlEnv not set', change: (c) => (c.quotas = { store: 'redis', redis: { urlEnv: MISSING }, buckets: {} }), field: /quotas\.redis\.urlEnv: environment variable .* is not set/ },
    { name: 'audit checkpoint key env not set', change: (c) => (c.audit.checkpoint = { keyEnv: MISSING }), field: /audit\.checkpoint\.keyEnv: environment variable .* is not set/ },
    { name: 'auth jwks file missing', change: (c, d) => (c.auth.jwks = { file: join(d, 'no-such-jwks.json') }), field: /auth\.jwks\.file: .*ENOENT/ },
    { name: 'policy verification key file missing', change: (c, d) => (c.policy.verification = { keyFile: join(d, 'no-such-key.pem') }), field: /policy\.verification\.keyFile: .*ENOENT/ },
    {
      name: 'upstream client certificate file missing',
      change: (c, d) => c.servers.push({ id: 'secure', url: 'https://127.0.0.1:9/mcp', tls: { clientCert: { certFile: join(d, 'no-such-client.pem'), keyFile: join(d, 'no-such-client.key') } } }),
      field: /servers\[1\]\.tls: .*ENOENT/,
    },
    { name: 'listener TLS certificate file missing', change: (c, d) => (c.listen.tls = { certFile: join(d, 'no-such-cert.pem'), keyFile: join(d, 'no-such-key.pem') }), field: /listen\.tls: .*ENOENT/ },
  ];

  for (const tc of bad) {
    it(`validate and serve both reject: ${tc.name}`, async () => {
      const marker = join(dir, `child-${tc.name.replace(/\W+/g, '-')}.jsonl`);
      const c = structuredClone(config(marker)) as Record<string, any>;
      c.log = { level: 'error' };
      tc.change(c, dir);
      const file = writeConfig(dir, c, `bad-${tc.name.replace(/\W+/g, '-')}.yaml`);
      const [v, s] = await Promise.all([runCli(['validate', '--config', file]), runCli(['serve', '--config', file])]);
      assert.notEqual(v.code, 0, `validate accepted it: ${v.stdout}`);
      assert.notEqual(s.code, 0, `serve accepted it: ${s.stdout}`);
      assert.equal(reportLines(v).length, 1, v.stderr);
      assert.match(reportLines(v)[0]!, tc.field);
      assert.ok(reportLines(v)[0]!.includes(file), 'the message names the file');
      assert.deepEqual(reportLines(s), reportLines(v), 'serve reports what validate reports');
      assert.equal(existsSync(marker), false, 'no STDIO child was spawned');
    });
  }

  it('every problem is listed at once, not only the first', async () => {
    const c = structuredClone(config(join(dir, 'child-many.jsonl'))) as Record<string, any>;
    bad[0]!.change(c, dir);
    bad[3]!.change(c, dir);
    bad[4]!.change(c, dir);
    const r = await runCli(['validate', '--config', writeConfig(dir, c, 'many.yaml')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /approvals\.webhook\.secretEnv/);
    assert.match(r.stderr, /auth\.jwks\.file/);
    assert.match(r.stderr, /policy\.verification\.keyFile/);
  });

  it('a good config: validate accepts it and starts nothing; serve accepts it, starts the child, and stops it on SIGTERM', async () => {
    const marker = join(dir, 'child-good.jsonl');
    const cfg = config(marker);
    const v = await runCli(['validate', '--config', writeConfig(dir, cfg, 'good.yaml')]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /valid \(1 servers, auth jwt\)/);
    assert.equal(existsSync(marker), false, 'validate spawned no child');
    assert.equal(existsSync((cfg.audit as { file: string }).file), false, 'validate created no audit file');

    const gw = await startGateway(dir, cfg, 'good-serve.yaml');
    try {
      await waitFor(() => findPids(marker).length === 1, 'the STDIO child to run', 10_000);
      // /readyz names every part and its state.
      const ready = (await (await fetch(`${gw.base}/readyz`)).json()) as { components: Record<string, { state: string }> };
      for (const name of ['audit', 'bundleWatcher', 'credentials', 'upstreams', 'approvals', 'quotas', 'sessions', 'listener']) {
        assert.ok(ready.components[name], `readyz lists ${name}: ${JSON.stringify(ready)}`);
      }
      assert.equal(ready.components.listener!.state, 'ok');
    } finally {
      await gw.stop();
    }
    assert.equal(gw.process.proc.exitCode, 0, gw.process.stderr().slice(-2000));
    await waitFor(() => findPids(marker).length === 0, 'the STDIO child to be gone after stop', 5000);
  });

  it('a start that fails late (the port is taken) stops what had started: the STDIO child is gone, the message is one sentence', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (taken.address() as { port: number }).port;
      const marker = join(dir, 'child-port-taken.jsonl');
      const cfg = { ...config(marker), listen: { host: '127.0.0.1', port } };
      const r = await runCli(['serve', '--config', writeConfig(dir, cfg, 'port-taken.yaml')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: address already in use/);
      // The listener starts last: the child had been spawned, and the failed start stopped it.
      assert.equal(existsSync(marker), true, 'the STDIO child had started before the listener');
      await waitFor(() => findPids(marker).length === 0, 'no STDIO child left running', 5000);
    } finally {
      taken.close();
    }
  });
});
