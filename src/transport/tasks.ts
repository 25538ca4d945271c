/**
 * MCP tasks (2025-11-25, experimental) for tools/call: a task-augmented call is answered at once with a task, runs
 * in the background (held for approval if policy says so), and the client polls tasks/get and fetches tasks/result,
 * so a call that waits minutes for a human does not depend on one HTTP request staying open. Tasks belong to the
 * session (and so to the principal) that created them.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError, InvalidParamsError, toJsonRpcError, type JsonRpcErrorObject } from '../errors/index.js';
import type { Session } from './sessions.js';

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export interface Task {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttl: number | null;
  pollInterval: number;
}

interface Entry {
  task: Task;
  abort: AbortController;
  done: Promise<void>;
  result?: unknown;
  error?: JsonRpcErrorObject;
  expiry?: NodeJS.Timeout;
}

/** Server capability announced when tasks are on. */
export const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

// How long a finished task is kept when the client asked for no ttl; and the cap on what it may ask.
const DEFAULT_TTL_MS = 15 * 60_000;
const MAX_TTL_MS = 24 * 3600_000;
const MAX_TASKS_PER_SESSION = 1000;
const POLL_INTERVAL_MS = 1000;
export const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';

const stores = new WeakMap<Session, Map<string, Entry>>();

function storeOf(session: Session): Map<string, Entry> {
  let s = stores.get(session);
  if (!s) {
    s = new Map();
    stores.set(session, s);
  }
  return s;
}

/** True when a tools/call asks to run as a task. */
export function isTaskAugmented(params: Record<string, unknown>): boolean {
  return typeof params.task === 'object' && params.task !== null;
}

/**
 * Starts `run` as a task of the session and returns the CreateTaskResult to send now. `run` gets the task's own
 * abort signal (tasks/cancel) and a way to say what it is waiting for.
 */
export function createTask(
  session: Session,
  params: Record<string, unknown>,
  run: (signal: AbortSignal, status: (message: string) => void) => Promise<unknown>,
): { task: Task } {
  const store = storeOf(session);
  if (store.size >= MAX_TASKS_PER_SESSION) throw new GatewayError(-32600, 'transport', 'Too many tasks in this session; fetch or cancel some first');
  const requested = (params.task as { ttl?: unknown }).ttl;
  const ttl = typeof requested === 'number' && requested > 0 ? Math.min(requested, MAX_TTL_MS) : DEFAULT_TTL_MS;
  const now = new Date().toISOString();
  const task: Task = { taskId: randomUUID(), status: 'working', createdAt: now, lastUpdatedAt: now, ttl, pollInterval: POLL_INTERVAL_MS };
  const abort = new AbortController();
  const entry: Entry = { task, abort, done: Promise.resolve() };
  const finish = (status: TaskStatus, message?: string) => {
    if (task.status === 'cancelled') return;
    task.status = status;
    task.lastUpdatedAt = new Date().toISOString();
    if (message !== undefined) task.statusMessage = message;
    else delete task.statusMessage;
    // A finished task is kept for its ttl so the client can fetch the result, then forgotten.
    entry.expiry = setTimeout(() => store.delete(task.taskId), ttl);
    entry.expiry.unref();
  };
  entry.done = run(abort.signal, (message) => {
    task.statusMessage = message;
    task.lastUpdatedAt = new Date().toISOString();
  }).then(
    (result) => {
      entry.result = result;
      finish('completed');
    },
    (err: unknown) => {
      entry.error = toJsonRpcError(err);
      finish('failed', err instanceof GatewayError ? err.message : 'the call failed');
    },
  );
  store.set(task.taskId, entry);
  return { task: { ...task } };
}

function find(session: Session, params: Record<string, unknown>): Entry {
  const id = params.taskId;
  const entry = typeof id === 'string' ? storeOf(session).get(id) : undefined;
  // Another session's task id is answered like an unknown one.
  if (!entry) throw new InvalidParamsError(`Unknown task: ${String(id).slice(0, 80)}`);
  return entry;
}

/** tasks/get, tasks/result, tasks/cancel and tasks/list for the session's own tasks. */
export async function handleTaskRequest(session: Session, method: string, params: Record<string, unknown>): Promise<unknown> {
  switch (method) {
    case 'tasks/get':
      return { ...find(session, params).task };
    case 'tasks/result': {
      const entry = find(session, params);
      await entry.done;
      if (entry.task.status === 'cancelled') throw new GatewayError(-32600, 'transport', 'Task was cancelled');
      if (entry.error) throw new TaskFailedError(entry.error);
      const result = (entry.result ?? {}) as Record<string, unknown>;
      const meta = (result._meta as Record<string, unknown> | undefined) ?? {};
      return { ...result, _meta: { ...meta, [RELATED_TASK_META]: { taskId: entry.task.taskId } } };
    }
    case 'tasks/cancel': {
      const entry = find(session, params);
      const t = entry.task;
      if (t.status === 'completed' || t.status === 'failed' || t.status === 'cancelled') {
        throw new InvalidParamsError(`Task ${t.taskId} is already ${t.status}`);
      }
      t.status = 'cancelled';
      t.statusMessage = 'cancelled by the client';
      t.lastUpdatedAt = new Date().toISOString();
      // Withdraws a held approval or cancels the upstream call, exactly as notifications/cancelled would.
      entry.abort.abort();
      entry.expiry = setTimeout(() => storeOf(session).delete(t.taskId), t.ttl ?? DEFAULT_TTL_MS);
      entry.expiry.unref();
      return { ...t };
    }
    case 'tasks/list':
      return { tasks: [...storeOf(session).values()].map((e) => ({ ...e.task })) };
    default:
      return undefined;
  }
}

/** tasks/result of a failed task answers with the underlying request's own JSON-RPC error. */
class TaskFailedError extends GatewayError {
  constructor(error: JsonRpcErrorObject) {
    super(error.code, 'transport', error.message, { data: error.data as Record<string, unknown> | undefined });
  }
}

export const TASK_METHODS = new Set(['tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list']);

/** Aborts every task of a session that ends. */
export function endTasks(session: Session): void {
  const store = stores.get(session);
  if (!store) return;
  for (const e of store.values()) {
    clearTimeout(e.expiry);
    e.abort.abort();
  }
  store.clear();
}
