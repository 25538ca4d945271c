// The builtin corpus (test/cases/builtins/corpus.yaml) through the pinned OPA CLI and through the gateway's WASM
// engine with its host builtins: every case must give its recorded `want` on both, the way OPA runs one corpus
// through topdown and through WASM. Then time.now_ns, which only the gateway can freeze, and the engine hook.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostCanRun, PROVIDED_BUILTINS } from '../../src/policy/builtins.js';
import { PolicyEngine } from '../../src/policy/index.js';
import { asDoubles, canonical, evalWithGateway, evalWithOpa, loadCorpus, OPA } from '../helpers/builtin-corpus.js';
import { tempDir } from '../helpers/paths.js';

const cases = loadCorpus();

describe('builtin corpus: OPA CLI and the gateway WASM engine agree', () => {
  const tmp = tempDir('portcullis-builtins-');
  let opa: Record<string, string> = {};
  let gateway: Record<string, string> = {};
  before(async () => {
    opa = evalWithOpa(tmp.dir, cases);
    gateway = await evalWithGateway(tmp.dir, cases);
  });
  after(() => tmp.cleanup());

  cases.forEach((c, i) => {
    it(c.note ? `${c.note}: ${c.expr}` : c.expr, () => {
      assert.ok(typeof c.want === 'string', 'a case without want is a failure');
      const key = String(i);
      if (c.want === 'undefined') {
        assert.equal(opa[key], undefined, 'OPA: expected undefined');
        assert.equal(gateway[key], undefined, 'gateway: expected undefined');
        return;
      }
      assert.ok(opa[key] !== undefined, 'OPA: undefined');
      assert.ok(gateway[key] !== undefined, 'gateway: undefined');
      assert.equal(canonical(opa[key]!), canonical(c.want), 'OPA');
      if (c.precision === 'double') assert.equal(asDoubles(gateway[key]!), asDoubles(c.want), 'gateway (as doubles)');
      else assert.equal(canonical(gateway[key]!), canonical(c.want), 'gateway');
    });
  });

  it('hostCanRun: the provided builtins and opa-wasm\'s own, nothing else', () => {
    assert.ok(['time.now_ns', 'io.jwt.decode', 'sprintf', 'yaml.unmarshal'].every(hostCanRun));
    assert.ok(!['http.send', 'rand.intn', 'uuid.rfc4122', 'net.lookup_ip_addr', 'opa.runtime', 'toString'].some(hostCanRun));
  });

  it('covers every provided builtin (time.now_ns is tested below)', () => {
    const missing = PROVIDED_BUILTINS.filter((b) => b !== 'time.now_ns' && !cases.some((c) => c.expr.includes(`${b}(`)));
    assert.deepEqual(missing, []);
  });
});

describe('deliberate bounds (where the gateway does not follow OPA)', () => {
  it('units.parse and units.parse_bytes refuse amounts past 1000 digits quickly instead of computing them', async () => {
    const { unitsBuiltins } = await import('../../src/policy/builtins/units.js');
    for (const s of ['1e999999', '1e-1001', `${'9'.repeat(1001)}k`]) {
      const t = performance.now();
      assert.throws(() => unitsBuiltins['units.parse']!(s), /too large/);
      assert.throws(() => unitsBuiltins['units.parse_bytes']!(s), /too large/);
      assert.ok(performance.now() - t < 50, `${s.slice(0, 12)}… took ${performance.now() - t} ms`);
    }
    assert.equal(unitsBuiltins['units.parse']!('1e1000'), 10n ** 1000n);
  });
});

describe('time.now_ns in the gateway engine', () => {
  const tmp = tempDir('portcullis-now-');
  const engine = new PolicyEngine({ timeoutMs: 1000, maxMemoryPages: 256 });
  before(async () => {
    // Entry points as the gateway requires; decision reports the clock as exact text.
    writeFileSync(join(tmp.dir, 'p.rego'), [
      'package portcullis',
      'visible := []',
      'decision := {"now": json.marshal(time.now_ns()), "stable": time.now_ns() == time.now_ns(), "clock": time.clock(time.now_ns()), "weekday": time.weekday(time.now_ns())}',
      '',
    ].join('\n'));
    const out = join(tmp.dir, 'b.tar.gz');
    execFileSync(OPA, ['build', '-t', 'wasm', '-e', 'portcullis/visible', '-e', 'portcullis/decision', '-o', out, join(tmp.dir, 'p.rego')]);
    await engine.activate(readFileSync(out));
  });
  after(() => tmp.cleanup());

  it('is input.request.time, exactly, and the same for every call in one evaluation', () => {
    const r = engine.evaluate('portcullis/decision', { request: { time: '2026-11-24T01:00:00.123Z' } });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.value, { now: '1795482000123000000', stable: true, clock: [1, 0, 0], weekday: 'Tuesday' });
  });

  it('follows each evaluation (no clock left over from the previous one)', () => {
    const r = engine.evaluate('portcullis/decision', { request: { time: '2027-01-03T23:59:59Z' } });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.value, { now: '1799020799000000000', stable: true, clock: [23, 59, 59], weekday: 'Sunday' });
  });

  it('without request.time, is the host clock when the evaluation ran', () => {
    const lo = BigInt(Date.now() - 1) * 1_000_000n;
    const r = engine.evaluate('portcullis/decision', {});
    const hi = BigInt(Date.now() + 1) * 1_000_000n;
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const now = BigInt((r.value as { now: string }).now);
    assert.ok(now >= lo && now <= hi, `${now} not in [${lo}, ${hi}]`);
  });
});
