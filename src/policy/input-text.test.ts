import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodePolicyInput, makeWellFormed } from './input-text.js';

const decode = (b: ArrayBuffer) => JSON.parse(new TextDecoder().decode(b)) as unknown;

describe('policy input text', () => {
  const cases: Array<{ note: string; input: unknown; want: unknown }> = [
    { note: 'plain input is unchanged', input: { a: 'x', n: 1 }, want: { a: 'x', n: 1 } },
    { note: 'a lone high surrogate becomes U+FFFD', input: { text: '\ud800' }, want: { text: '\ufffd' } },
    { note: 'a lone low surrogate becomes U+FFFD', input: { text: 'a\udfffb' }, want: { text: 'a\ufffdb' } },
    { note: 'a surrogate pair is kept', input: { text: '\ud83d\ude00' }, want: { text: '\ud83d\ude00' } },
    { note: 'reversed pair: two lone surrogates', input: { text: '\ude00\ud83d' }, want: { text: '\ufffd\ufffd' } },
    { note: 'a literal backslash before "ud800" text is not an escape', input: { text: '\\ud800' }, want: { text: '\\ud800' } },
    { note: 'an escaped backslash then a lone surrogate', input: { text: '\\\ud800' }, want: { text: '\\\ufffd' } },
    { note: 'object keys too', input: { ['k\udc00']: true }, want: { ['k\ufffd']: true } },
  ];
  for (const c of cases) {
    it(c.note, () => assert.deepEqual(decode(encodePolicyInput(c.input)), c.want));
  }

  it('the bytes are well-formed UTF-8 with no surrogate escape left', () => {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(encodePolicyInput({ d: 'x\ud800y'.repeat(1000) }));
    assert.equal(/\\ud[89a-f]/i.test(text), false);
  });
});

describe('call arguments made well-formed in place', () => {
  it('replaces lone surrogates in nested strings and keys, keeps pairs and everything else', () => {
    const args: Record<string, unknown> = { text: 'a\ud800b', list: ['\udc00', 1, null, { deep: 'x\ud83d\ude00y' }], ['k\ud800']: true, n: 2 };
    makeWellFormed(args);
    assert.deepEqual(args, { text: 'a\ufffdb', list: ['\ufffd', 1, null, { deep: 'x\ud83d\ude00y' }], n: 2, ['k\ufffd']: true });
  });

  it('a value nested 100,000 levels deep does not exhaust the stack', () => {
    let v: unknown = '\ud800';
    for (let i = 0; i < 100_000; i++) v = [v];
    const root = { v };
    makeWellFormed(root);
    let x: unknown = root.v;
    while (Array.isArray(x)) x = x[0];
    assert.equal(x, '\ufffd');
  });

  it('an own "__proto__" key from JSON.parse stays a plain key', () => {
    const args = JSON.parse('{"__proto__": "a\\ud800", "x": 1}') as Record<string, unknown>;
    makeWellFormed(args);
    assert.equal(Object.getPrototypeOf(args), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(args, '__proto__')?.value, 'a\ufffd');
  });
});
