// docs/errors.md is the user's view of src/errors/codes.ts: every registered code has a row, and every code in the
// table is registered (fastify checks its Errors.md against its error table the same way).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as codes from '../../src/errors/codes.js';
import { ROOT } from '../helpers/paths.js';

const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
/** The numeric codes in the first column of the table. */
const documented = new Set(
  doc
    .split('\n')
    .map((l) => /^\|\s*(-3\d{4})\s*\|/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined)
    .map(Number),
);
const registered = new Map(Object.entries(codes).filter((e): e is [string, number] => typeof e[1] === 'number'));

describe('error registry and docs/errors.md', () => {
  it('documents every registered code', () => {
    const missing = [...registered].filter(([, code]) => !documented.has(code)).map(([name, code]) => `${name} (${code})`);
    assert.deepEqual(missing, []);
  });

  it('registers every documented code', () => {
    const known = new Set(registered.values());
    assert.deepEqual([...documented].filter((c) => !known.has(c)), []);
  });

  it('gives each code one name', () => {
    const byCode = new Map<number, string[]>();
    for (const [name, code] of registered) byCode.set(code, [...(byCode.get(code) ?? []), name]);
    assert.deepEqual([...byCode].filter(([, names]) => names.length > 1), []);
  });

  it('has no literal error code outside the registry in the source', () => {
    // grep exits 1 when nothing matches: that is the passing case.
    const r = spawnSync('grep', ['-rnE', 'code: -3[0-9]{4}|Error\\(-3[0-9]{4},', join(ROOT, 'src'), '--include=*.ts'], { encoding: 'utf8' });
    const offenders = r.stdout.split('\n').filter((l) => l && !l.includes('.test.ts') && !l.includes('/errors/codes.ts'));
    assert.deepEqual(offenders, []);
  });
});
