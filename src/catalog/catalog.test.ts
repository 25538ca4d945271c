import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Upstream } from '../upstream/index.js';
import { createLogger } from '../telemetry/logger.js';
import { Catalog } from './index.js';

const server = (id: string, toolList?: { maxTools: number; maxDescriptionLength: number; maxBytes: number }) =>
  new Upstream({ id, url: 'http://127.0.0.1:9/mcp', args: [], labels: {}, timeoutMs: 1000, restart: { initialDelayMs: 1, maxDelayMs: 1 }, toolList }, createLogger('error'));
const tool = (name: string) => ({ name, inputSchema: { type: 'object' } });

describe('catalog bounds', () => {
  it('a list over a bound is rejected for that server only: its last good list and the other server keep serving', () => {
    const warnings: Array<{ message: string; meta: Record<string, unknown> }> = [];
    const c = new Catalog({ warn: (message, meta) => warnings.push({ message, meta }) });
    c.addServer(server('good'));
    c.addServer(server('evil', { maxTools: 3, maxDescriptionLength: 100, maxBytes: 4096 }));
    c.setTools('good', [tool('a')]);
    c.setTools('evil', [tool('x'), tool('y')]);
    const gen = c.generation;
    c.setTools('evil', [tool('1'), tool('2'), tool('3'), tool('4')]);
    assert.equal(c.generation, gen, 'a rejected list changes nothing');
    assert.deepEqual(c.list(null).map((e) => e.key), ['good__a', 'evil__x', 'evil__y']);
    assert.equal(c.rejectedLists.get('evil'), 1);
    assert.equal(warnings.length, 1);
    assert.deepEqual(warnings[0]!.meta, { server: 'evil', bound: 'toolList.maxTools', limit: 3, actual: 4, serving: 2 });
  });

  it('a malformed tool is dropped with one log line; its siblings are listed', () => {
    const warnings: Array<Record<string, unknown>> = [];
    const c = new Catalog({ warn: (_m, meta) => warnings.push(meta) });
    c.addServer(server('s'));
    c.setTools('s', [tool('ok'), { name: 7, inputSchema: {} }, { name: 'noschema' }]);
    assert.deepEqual(c.list('s').map((e) => e.tool.name), ['ok']);
    assert.equal(c.droppedTools.get('s'), 2);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.dropped, 2);
  });

  it('lone surrogates in accepted tools become U+FFFD (clients and policy see the same well-formed text)', () => {
    const c = new Catalog();
    c.addServer(server('s'));
    c.setTools('s', [{ name: 'a', description: 'x\ud800y', inputSchema: { type: 'object', properties: { ['p\udc00']: { type: 'string' } } } }]);
    const t = c.list('s')[0]!.tool;
    assert.equal(t.description, 'x\ufffdy');
    assert.deepEqual(Object.keys((t.inputSchema as { properties: object }).properties), ['p\ufffd']);
    assert.equal(c.list('s')[0]!.policyView.description, 'x\ufffdy');
  });
});
