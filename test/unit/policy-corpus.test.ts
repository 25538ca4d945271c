// Runs the decision corpus (test/cases/*.yaml) through the gateway's own policy engine against the WASM bundle
// built from policies/ by the real OPA CLI, the way OPA runs one corpus through topdown and WASM.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PolicyEngine } from '../../src/policy/index.js';

interface Case {
  note: string;
  entrypoint: string;
  input: unknown;
  want?: unknown;
}

const dir = 'test/cases';
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

describe('policy corpus against the built WASM bundle', () => {
  const engine = new PolicyEngine({ timeoutMs: 1000, maxMemoryPages: 1024 });
  before(async () => {
    await engine.activate(readFileSync('bundles/policy.tar.gz'));
  });
  for (const file of files) {
    const { cases } = parse(readFileSync(join(dir, file), 'utf8')) as { cases: Case[] };
    for (const c of cases) {
      it(`${file}: ${c.note}`, () => {
        assert.ok(c.want !== undefined, 'a case without want is a failure');
        const r = engine.evaluate(c.entrypoint, c.input);
        assert.ok(r.ok, r.ok ? '' : r.reason);
        const got = c.entrypoint === 'portcullis/visible' && Array.isArray(r.value) ? [...r.value].sort() : r.value;
        assert.deepEqual(got, c.want);
      });
    }
  }
});
