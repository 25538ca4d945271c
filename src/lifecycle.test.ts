import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { component, Lifecycle, type Component } from './lifecycle.js';

/** Records what the runner did, in order; `failStart` / `hangStop` make one part misbehave. */
function recorder(): { events: string[]; part(name: string, opts?: { failStart?: boolean; hangStop?: boolean; failStop?: boolean }): Component } {
  const events: string[] = [];
  return {
    events,
    part(name, opts = {}) {
      return component(name, {
        start: async () => {
          events.push(`start ${name}`);
          if (opts.failStart) throw new Error(`${name} will not start`);
        },
        stop: async () => {
          events.push(`stop ${name}`);
          if (opts.failStop) throw new Error(`${name} will not stop`);
          if (opts.hangStop) await new Promise(() => undefined);
        },
      });
    },
  };
}

function logSink(): { lines: string[]; log: { info(m: string): void; error(m: string, meta?: Record<string, unknown>): void } } {
  const lines: string[] = [];
  return { lines, log: { info: (m) => lines.push(m), error: (m, meta) => lines.push(`${m} ${JSON.stringify(meta)}`) } };
}

describe('Lifecycle', () => {
  it('starts in the order added and stops in reverse; status names every component', async () => {
    const r = recorder();
    const lc = new Lifecycle({ log: logSink().log });
    lc.add(r.part('a')).add(r.part('b')).add(r.part('c'));
    assert.deepEqual(lc.status(), { a: { state: 'idle' }, b: { state: 'idle' }, c: { state: 'idle' } });
    await lc.start();
    assert.deepEqual(r.events, ['start a', 'start b', 'start c']);
    assert.deepEqual(lc.status(), { a: { state: 'ok' }, b: { state: 'ok' }, c: { state: 'ok' } });
    await lc.stop();
    assert.deepEqual(r.events.slice(3), ['stop c', 'stop b', 'stop a']);
    assert.deepEqual(lc.status(), { a: { state: 'stopped' }, b: { state: 'stopped' }, c: { state: 'stopped' } });
  });

  it('a failure in the middle stops the started ones (the failed one too) in reverse, rethrows, and never starts the rest', async () => {
    const r = recorder();
    const lc = new Lifecycle({ log: logSink().log });
    lc.add(r.part('a')).add(r.part('b')).add(r.part('c', { failStart: true })).add(r.part('d'));
    await assert.rejects(lc.start(), /c will not start/);
    // c is stopped as well: a part may have spawned something before it threw.
    assert.deepEqual(r.events, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
    assert.equal(lc.status().d!.state, 'idle');
  });

  it('stop is bounded per component: a hung stop is logged and the rest still stop', async () => {
    const r = recorder();
    const { lines, log } = logSink();
    const lc = new Lifecycle({ log, stopTimeoutMs: 200 });
    lc.add(r.part('a')).add(r.part('b', { hangStop: true })).add(r.part('c', { failStop: true }));
    await lc.start();
    const t0 = Date.now();
    await lc.stop();
    const took = Date.now() - t0;
    assert.ok(took >= 180 && took < 2000, `stop took ${took} ms`);
    assert.deepEqual(r.events.slice(3), ['stop c', 'stop b', 'stop a']);
    assert.ok(lines.some((l) => /did not stop in time/.test(l) && /"component":"b"/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /component stop failed/.test(l) && /c will not stop/.test(l)), lines.join('\n'));
  });

  it('stop twice, or before start, does nothing the second time', async () => {
    const r = recorder();
    const lc = new Lifecycle({ log: logSink().log });
    lc.add(r.part('a'));
    await lc.stop();
    await lc.start();
    await lc.stop();
    await lc.stop();
    assert.deepEqual(r.events, ['start a', 'stop a']);
  });

  it('refuses two components with one name', () => {
    const lc = new Lifecycle({ log: logSink().log });
    lc.add(component('x', {}));
    assert.throws(() => lc.add(component('x', {})), /duplicate component name 'x'/);
  });
});
