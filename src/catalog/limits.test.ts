import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkToolList, DEFAULT_TOOL_LIST_LIMITS, type ToolListLimits } from './limits.js';

const limits: ToolListLimits = { maxTools: 5, maxDescriptionLength: 100, maxBytes: 4096 };
const tool = (name: unknown, extra: Record<string, unknown> = {}) => ({ name, description: 'ok', inputSchema: { type: 'object' }, ...extra });

describe('tool list limits', () => {
  it('a good list passes unchanged', () => {
    const raw = [tool('a'), tool('b', { title: 'B', annotations: { readOnlyHint: true }, outputSchema: { type: 'object' } })];
    const r = checkToolList(raw, limits);
    assert.deepEqual(r, { ok: true, tools: raw, dropped: [] });
  });

  const bad: Array<{ note: string; t: unknown; problem: RegExp }> = [
    { note: 'no name', t: { inputSchema: { type: 'object' } }, problem: /name is missing/ },
    { note: 'name not a string', t: tool(42), problem: /name is missing or not a string/ },
    { note: 'empty name', t: tool(''), problem: /name/ },
    { note: 'name with a lone surrogate', t: tool('a\ud800'), problem: /lone surrogates/ },
    { note: 'name with a control character', t: tool('a\nb'), problem: /control/ },
    { note: 'not an object', t: 'echo', problem: /not an object/ },
    { note: 'no inputSchema', t: { name: 'x' }, problem: /inputSchema/ },
    { note: 'inputSchema of type string', t: tool('x', { inputSchema: { type: 'string' } }), problem: /inputSchema\.type/ },
    { note: 'inputSchema an array', t: tool('x', { inputSchema: [] }), problem: /inputSchema/ },
    { note: 'description not a string', t: tool('x', { description: { a: 1 } }), problem: /description/ },
    { note: 'description over maxDescriptionLength', t: tool('x', { description: 'd'.repeat(101) }), problem: /maxDescriptionLength 100/ },
    { note: 'annotations not an object', t: tool('x', { annotations: 'destructive' }), problem: /annotations/ },
  ];
  for (const b of bad) {
    it(`drops one malformed tool (${b.note}) and keeps the rest`, () => {
      const r = checkToolList([tool('good'), b.t], limits);
      assert.equal(r.ok, true);
      if (!r.ok) return;
      assert.deepEqual(r.tools.map((t) => t.name), ['good']);
      assert.equal(r.dropped.length, 1);
      assert.match(r.dropped[0]!.problem, b.problem);
    });
  }

  it('a duplicate name keeps the first tool', () => {
    const r = checkToolList([tool('a', { description: 'first' }), tool('a', { description: 'second' })], limits);
    assert.equal(r.ok && r.tools.length === 1 && r.tools[0]!.description, 'first');
  });

  it('a lone surrogate in a description is not a reason to drop the tool (policy input is sanitised)', () => {
    const r = checkToolList([tool('a', { description: 'x\ud800y' })], limits);
    assert.equal(r.ok && r.tools.length, 1);
  });

  it('more tools than maxTools rejects the whole list', () => {
    assert.deepEqual(checkToolList(Array.from({ length: 6 }, (_, i) => tool(`t${i}`)), limits), { ok: false, bound: 'maxTools', limit: 5, actual: 6 });
  });

  it('a list over maxBytes rejects the whole list, without serializing a huge description', () => {
    const r = checkToolList([tool('a'), tool('b', { description: 'd'.repeat(50 * 1024 * 1024) })], DEFAULT_TOOL_LIST_LIMITS);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.bound, 'maxBytes');
    const many = checkToolList(Array.from({ length: 5 }, (_, i) => tool(`t${i}`, { inputSchema: { type: 'object', description: 'x'.repeat(1000) } })), limits);
    assert.equal(!many.ok && many.bound, 'maxBytes');
  });

  it('100,000 tools are refused by count before anything is serialized (fast)', () => {
    const raw = Array.from({ length: 100_000 }, (_, i) => tool(`t${i}`));
    const t0 = performance.now();
    const r = checkToolList(raw, DEFAULT_TOOL_LIST_LIMITS);
    assert.equal(!r.ok && r.bound, 'maxTools');
    assert.ok(performance.now() - t0 < 50);
  });
});
