/**
 * MCP tasks (2025-11-25, experimental) for tools/call: a task-augmented call is answered at once with a task, runs
 * in the background (held for approval if policy says so), and the client polls tasks/get and fetches tasks/result,
 * so a call that waits minutes for a human does not depend on one HTTP request staying open. Tasks belong to the
 * session (and so to the principal) that created them.
 *
 * Finished tasks are kept in memory for the client to fetch, so what they hold is bounded (approvals.tasks): the ttl
 * a client may ask for, the tasks per session, the bytes of one result and of all results in the process. Each
 * finished task is forgotten by its own timer when its ttl ends, whatever its session is doing (an open GET stream
 * keeps a session alive, not its tasks).
 */
import { randomUUID } from 'node:crypto';
import { TASK_LIMIT, INVALID_REQUEST } from '../errors/codes.js';
import { GatewayError, InvalidParamsError, toJsonRpcError, type JsonRpcErrorObject } from '../errors/index.js';

/**
 * The session that owns tasks. Only its identity is used (a WeakMap key), so this module needs nothing of
 * sessions.ts, which imports endTasks from here: no import circle.
 */
type Session = object;

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

/** approvals.tasks in the config: the bounds on what tasks keep in memory. */
export interface TaskLimits {
  /** Cap on the ttl a client asks for; the capped value is what the client is told. Also the default, if smaller. */
  maxTtlMs: number;
  /** A result (or error) larger than this, serialized, is not kept: the task fails saying so. */
  maxResultBytes: number;
  /** Tasks a session may have at once (working, or finished within their ttl). */
  maxPerSession: number;
  /** Bytes of kept results across every session of the process. */
  maxTotalBytes: number;
}

interface Entry {
  task: Task;
  abort: AbortController;
  done: Promise<void>;
  /** The result as serialized JSON: its size is known exactly, and it lives off the JS heap. */
  result?: Buffer;
  error?: JsonRpcErrorObject;
  /** Bytes this entry counts against maxTotalBytes. */
  bytes: number;
  /** Set once the entry left its store (ttl over, session ended): a late result is then dropped, not counted. */
  gone: boolean;
  expiry?: NodeJS.Timeout;
}

/** Server capability announced when tasks are on. */
export const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

// How long a finished task is kept when the client asked for no ttl (never more than maxTtlMs).
const DEFAULT_TTL_MS = 15 * 60_000;
const POLL_INTERVAL_MS = 1000;
export const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';

const stores = new WeakMap<Session, Map<string, Entry>>();
/** Bytes of results and errors kept by every task of the process: what maxTotalBytes bounds. */
let keptBytes = 0;

/** Bytes the process keeps in task results right now (for tests and metrics). */
export function taskBytesKept(): number {
  return keptBytes;
}

function storeOf(session: Session): Map<string, Entry> {
  let s = stores.get(session);
  if (!s) {
    s = new Map();
    stores.set(session, s);
  }
  return s;
}

function forget(store: Map<string, Entry>, entry: Entry): void {
  clearTimeout(entry.expiry);
  entry.gone = true;
  store.delete(entry.task.taskId);
  keptBytes -= entry.bytes;
  entry.bytes = 0;
  entry.result = undefined;
  entry.error = undefined;
}

/** A task limit was reached: -32005 with data.limit naming the config field. */
export class TaskLimitError extends GatewayError {
  constructor(message: string, data: Record<string, unknown>) {
    super(TASK_LIMIT, 'transport', message, { data });
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** True when a tools/call asks to run as a task. */
export function isTaskAugmented(params: Record<string, unknown>): boolean {
  return typeof params.task === 'object' && params.task !== null;
}

/**
 * Starts `run` as a task of the session and returns the CreateTaskResult to send now. `run` gets the task's own
 * abort signal (tasks/cancel) and a way to say what it is waiting for, and resolves with the result's JSON text.
 */
export function createTask(
  session: Session,
  params: Record<string, unknown>,
  limits: TaskLimits,
  run: (signal: AbortSignal, status: (message: string) => void) => Promise<string>,
): { task: Task } {
  const store = storeOf(session);
  if (store.size >= limits.maxPerSession) {
    throw new TaskLimitError(
      `Too many tasks in this session: ${store.size} are working or kept (limit ${limits.maxPerSession}, approvals.tasks.maxPerSession). ` +
        'A finished task is kept until its ttl ends; cancel working ones, wait, or call without a task',
      { limit: 'maxPerSession', max: limits.maxPerSession },
    );
  }
  const requested = (params.task as { ttl?: unknown }).ttl;
  const ttl = Math.min(typeof requested === 'number' && requested > 0 ? requested : DEFAULT_TTL_MS, limits.maxTtlMs);
  const now = new Date().toISOString();
  const task: Task = { taskId: randomUUID(), status: 'working', createdAt: now, lastUpdatedAt: now, ttl, pollInterval: POLL_INTERVAL_MS };
  const abort = new AbortController();
  const entry: Entry = { task, abort, done: Promise.resolve(), bytes: 0, gone: false };
  const finish = (status: TaskStatus, message?: string) => {
    task.status = status;
    task.lastUpdatedAt = new Date().toISOString();
    if (message !== undefined) task.statusMessage = message;
    else delete task.statusMessage;
    // A finished task is kept for its ttl so the client can fetch the result, then forgotten.
    entry.expiry = setTimeout(() => forget(store, entry), ttl);
    entry.expiry.unref();
  };
  /** Keeps `bytes` more if both limits allow; otherwise says which one does not. */
  const refuseToKeep = (bytes: number, what: string): TaskLimitError | null => {
    if (bytes > limits.maxResultBytes) {
      return new TaskLimitError(
        `The call ran, but its ${what} (${fmt(bytes)} bytes) is larger than a task may keep (${fmt(limits.maxResultBytes)} bytes, approvals.tasks.maxResultBytes); it was discarded. Call the tool without a task to receive it directly`,
        { limit: 'maxResultBytes', max: limits.maxResultBytes, bytes },
      );
    }
    if (keptBytes + bytes > limits.maxTotalBytes) {
      return new TaskLimitError(
        `The call ran, but the gateway keeps no more task results now (${fmt(limits.maxTotalBytes)} bytes in all, approvals.tasks.maxTotalBytes); its ${what} (${fmt(bytes)} bytes) was discarded. Call the tool without a task, or retry later`,
        { limit: 'maxTotalBytes', max: limits.maxTotalBytes, bytes },
      );
    }
    keptBytes += bytes;
    entry.bytes += bytes;
    return null;
  };
  const fail = (err: unknown) => {
    // An error is kept like a result (an upstream's error can be large); a refusal to keep something is itself
    // small and bounded, so it is kept without being counted.
    const refusal = err instanceof TaskLimitError ? err : refuseToKeep(Buffer.byteLength(JSON.stringify(toJsonRpcError(err))), 'error');
    const final = refusal ?? err;
    entry.error = toJsonRpcError(final);
    finish('failed', final instanceof GatewayError ? final.message : 'the call failed');
  };
  entry.done = run(abort.signal, (message) => {
    task.statusMessage = message;
    task.lastUpdatedAt = new Date().toISOString();
  }).then(
    (text) => {
      // Cancelled or forgotten meanwhile (session ended): nothing to keep, nothing to count.
      if (task.status === 'cancelled' || entry.gone) return;
      // The result's JSON text as the pipeline serialized it, measured before any copy is made: a result that is
      // not kept costs no second buffer.
      const refusal = refuseToKeep(Buffer.byteLength(text, 'utf8'), 'result');
      if (refusal) return fail(refusal);
      entry.result = Buffer.from(text, 'utf8');
      finish('completed');
    },
    (err: unknown) => {
      if (task.status === 'cancelled' || entry.gone) return;
      fail(err);
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
      if (entry.task.status === 'cancelled') throw new GatewayError(INVALID_REQUEST, 'transport', 'Task was cancelled');
      if (entry.error) throw new TaskFailedError(entry.error);
      if (!entry.result) throw new InvalidParamsError(`Unknown task: ${entry.task.taskId}`); // forgotten while we waited
      const result = JSON.parse(entry.result.toString('utf8')) as Record<string, unknown>;
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
      const store = storeOf(session);
      entry.expiry = setTimeout(() => forget(store, entry), t.ttl ?? DEFAULT_TTL_MS);
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

/** Aborts every task of a session that ends, and forgets them (their bytes no longer count). */
export function endTasks(session: Session): void {
  const store = stores.get(session);
  if (!store) return;
  for (const e of [...store.values()]) {
    e.abort.abort();
    forget(store, e);
  }
}
