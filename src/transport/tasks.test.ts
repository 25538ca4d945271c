// Unit tests of the task store's accounting: what maxTotalBytes bounds must return to zero when tasks are forgotten,
// including results that arrive after their session ended (they would otherwise be counted forever).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTask, endTasks, handleTaskRequest, taskBytesKept, type TaskLimits } from './tasks.js';

const limits: TaskLimits = { maxTtlMs: 60_000, maxResultBytes: 10_000, maxPerSession: 5, maxTotalBytes: 15_000 };
// The store keys tasks by the session object only; nothing else of it is read.
const session = () => ({});
const result = (n: number) => JSON.stringify({ content: [{ type: 'text', text: 'x'.repeat(n) }] });
const settle = () => new Promise((r) => setTimeout(r, 10));

describe('task store accounting', () => {
  it('counts kept results, refuses past maxTotalBytes, and gives the bytes back when the session ends', async () => {
    const s = session();
    const base = taskBytesKept();
    const a = createTask(s, { task: {} }, limits, async () => result(8_000)).task;
    await settle();
    const kept = taskBytesKept() - base;
    assert.ok(kept > 8_000 && kept < 8_100, String(kept));
    const b = createTask(s, { task: {} }, limits, async () => result(8_000)).task;
    await settle();
    assert.equal(taskBytesKept() - base, kept, 'the second result did not fit and was not kept');
    await assert.rejects(handleTaskRequest(s, 'tasks/result', { taskId: b.taskId }), (e: { code?: number; data?: { limit?: string } }) => e.code === -32005 && e.data?.limit === 'maxTotalBytes');
    const got = (await handleTaskRequest(s, 'tasks/result', { taskId: a.taskId })) as { content: Array<{ text: string }> };
    assert.equal(got.content[0]!.text.length, 8_000);
    endTasks(s);
    assert.equal(taskBytesKept(), base);
  });

  it('a result that arrives after its session ended is dropped, not counted', async () => {
    const s = session();
    const base = taskBytesKept();
    let finish!: (v: string) => void;
    createTask(s, { task: {} }, limits, () => new Promise<string>((r) => (finish = r)));
    endTasks(s);
    finish(result(5_000));
    await settle();
    assert.equal(taskBytesKept(), base);
  });

  it('caps the ttl and the number of tasks per session', () => {
    const s = session();
    assert.equal(createTask(s, { task: { ttl: 86_400_000 } }, limits, async () => '{}').task.ttl, 60_000);
    for (let i = 1; i < 5; i++) createTask(s, { task: {} }, limits, async () => '{}');
    assert.throws(() => createTask(s, { task: {} }, limits, async () => '{}'), /Too many tasks in this session: 5 .*limit 5/);
    endTasks(s);
  });
});
