import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileValidator } from './index.js';
import { GatewayError } from '../errors/index.js';

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { text: { type: 'string' }, items: { type: 'array', items: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } } },
  required: ['text'],
  additionalProperties: false,
};

function fieldOf(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, -32602);
    return err.data?.field;
  }
  assert.fail('accepted');
}

describe('argument validation', () => {
  const v = compileValidator('t', schema);
  it('accepts valid arguments', () => v({ text: 'x', items: [{ n: 1 }] }));
  it('names a missing field', () => assert.equal(fieldOf(() => v({})), 'text'));
  it('names a wrongly typed field', () => assert.equal(fieldOf(() => v({ text: 1 })), 'text'));
  it('names a nested field with its index', () => assert.equal(fieldOf(() => v({ text: 'x', items: [{ n: 1 }, { n: 'x' }] })), 'items[1].n'));
  it('names an unexpected field', () => assert.equal(fieldOf(() => v({ text: 'x', extra: 1 })), 'extra'));
  it('supports 2020-12 schemas', () => {
    const v2 = compileValidator('t', { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', $defs: { n: { type: 'number' } }, properties: { a: { $ref: '#/$defs/n' } } });
    assert.equal(fieldOf(() => v2({ a: 'x' })), 'a');
  });
  it('refuses every call when the schema cannot be compiled', () => {
    const broken = compileValidator('t', { type: 'object', properties: { a: { $ref: '#/nope' } } });
    assert.throws(() => broken({ a: 1 }), /cannot check/);
  });
});
