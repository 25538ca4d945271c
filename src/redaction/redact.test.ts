import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyReport, redact } from './index.js';
import { parseDecision } from '../policy/index.js';

const spec = (drop: string[], mask: Array<{ pattern: string; replacement?: string; name?: string }>) =>
  parseDecision({ outcome: 'allow', redact: { result: { drop, mask } } }).redactResult;

describe('redaction', () => {
  it('drops pointers, with * over arrays and objects', () => {
    const doc = { content: [{ type: 'text', text: 'a', secret: 1 }, { type: 'text', text: 'b', secret: 2 }], structuredContent: { a: { k: 1 }, b: { k: 2 } } };
    const r = emptyReport();
    redact(doc, spec(['/content/*/secret', '/structuredContent/*/k', '/missing/x'], []), r);
    assert.deepEqual(doc, { content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], structuredContent: { a: {}, b: {} } });
    assert.deepEqual(r.erased.sort(), ['/content/0/secret', '/content/1/secret', '/structuredContent/a/k', '/structuredContent/b/k']);
  });

  it('removes array elements from the end so indices stay right', () => {
    const doc = { list: ['a', 'b', 'c'] };
    redact(doc, spec(['/list/*'], []), emptyReport());
    assert.deepEqual(doc, { list: [] });
  });

  it('masks every string, counting by rule name', () => {
    const doc = { content: [{ type: 'text', text: 'mail bob@example.com and carol@example.org' }], n: 5 };
    const r = emptyReport();
    redact(doc, spec([], [{ name: 'email', pattern: '[a-z]+@[a-z]+\\.[a-z]+', replacement: '[email]' }]), r);
    assert.equal(doc.content[0]!.text, 'mail [email] and [email]');
    assert.deepEqual(r.masked, { email: 2 });
    assert.equal(doc.n, 5);
  });

  it('handles escaped pointer segments', () => {
    const doc: Record<string, unknown> = { 'a/b': 1, 'c~d': 2, e: 3 };
    redact(doc, spec(['/a~1b', '/c~0d'], []), emptyReport());
    assert.deepEqual(doc, { e: 3 });
  });
});

describe('decision parsing fails closed', () => {
  const bad: Array<{ note: string; raw: unknown }> = [
    { note: 'undefined', raw: undefined },
    { note: 'a bare boolean', raw: true },
    { note: 'unknown outcome', raw: { outcome: 'maybe' } },
    { note: 'drop not pointers', raw: { outcome: 'allow', redact: { arguments: { drop: ['a.b'] } } } },
    { note: 'invalid regex', raw: { outcome: 'allow', redact: { result: { mask: [{ pattern: '(' }] } } } },
  ];
  for (const b of bad) it(`rejects ${b.note}`, () => assert.throws(() => parseDecision(b.raw)));

  it('accepts a full decision', () => {
    const d = parseDecision({ outcome: 'needs_approval', reasons: ['r'], credential: 'ro', approval: { approvers: ['g'], timeout_seconds: 60 } });
    assert.equal(d.outcome, 'needs_approval');
    assert.deepEqual(d.approval, { approvers: ['g'], timeoutSeconds: 60 });
    assert.equal(d.credential, 'ro');
  });
});
