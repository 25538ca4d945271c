/**
 * The method table: every MCP request method the gateway serves, and the handler that serves it. This is the one
 * place that answers "where is X handled?". Decided methods run inside the audited, traced frame (frame.ts);
 * the rest (ping, logging, task polling) are answered directly and audited nowhere, because they decide nothing.
 *
 * Transports (Streamable HTTP sessions today) build a CallContext and call `dispatch`; they never route methods
 * themselves, so a second wire protocol is a second thin adapter over this same table.
 */
import { MethodNotFoundError } from '../errors/index.js';
import type { CallContext, TaskRunner } from './call-context.js';
import type { CallTool } from './call-tool.js';
import type { Frame } from './frame.js';
import type { ListTools } from './list-tools.js';
import type { RelayMethods } from './relay-methods.js';

export interface MethodTableDeps {
  /** server/discover: versions, capabilities and identity of an endpoint (null: the aggregate /mcp). */
  discover: (serverId: string | null) => Record<string, unknown>;
  frame: Frame;
  listTools: ListTools;
  callTool: CallTool;
  relay: RelayMethods;
}

/** Serves one request: resolves with the JSON text of its result, or rejects with a GatewayError (or a bug). */
export type Dispatch = (ctx: CallContext, method: string, params: Record<string, unknown>) => Promise<string>;

type Handler = (ctx: CallContext, params: Record<string, unknown>) => Promise<string>;

export function createMethodTable(deps: MethodTableDeps): { dispatch: Dispatch; methods: ReadonlySet<string> } {
  const { frame, listTools, callTool, relay } = deps;
  /** A decided method: audited once, traced, errors classified by the frame. */
  const decided =
    (method: string, work: (ctx: CallContext, params: Record<string, unknown>, scope: Parameters<Parameters<Frame['run']>[2]>[0]) => unknown): Handler =>
    (ctx, params) =>
      frame.run(ctx, method, (scope) => work(ctx, params, scope));
  /** A method that decides nothing: answered as it is. */
  const plain =
    (work: (ctx: CallContext, params: Record<string, unknown>) => unknown): Handler =>
    async (ctx, params) =>
      JSON.stringify((await work(ctx, params)) ?? {});
  const tasks = (method: string): Handler => plain((ctx, params) => requireTasks(ctx, method).request(ctx, method, params));

  const table: Record<string, Handler> = {
    ping: plain(() => ({})),
    'server/discover': plain((ctx) => deps.discover(ctx.serverId)),
    'tools/list': decided('tools/list', (ctx, _params, scope) => listTools(ctx, scope)),
    'tools/call': (ctx, params) => {
      // Task-augmented: answered at once with the task; the call itself runs later in the same frame.
      if (ctx.tasks?.wants(params)) {
        return plain(() =>
          ctx.tasks!.start(ctx, params, async (taskCtx, call) => JSON.parse(await frame.run(taskCtx, 'tools/call', (scope) => callTool(taskCtx, call, scope))) as unknown),
        )(ctx, params);
      }
      return frame.run(ctx, 'tools/call', (scope) => callTool(ctx, params, scope));
    },
    'prompts/list': decided('prompts/list', (ctx, params, { rec }) => relay.list(ctx, 'prompts/list', params, rec)),
    'resources/list': decided('resources/list', (ctx, params, { rec }) => relay.list(ctx, 'resources/list', params, rec)),
    'resources/templates/list': decided('resources/templates/list', (ctx, params, { rec }) => relay.list(ctx, 'resources/templates/list', params, rec)),
    'prompts/get': decided('prompts/get', (ctx, params, { rec }) => relay.decided(ctx, 'prompts/get', params, rec)),
    'resources/read': decided('resources/read', (ctx, params, { rec }) => relay.decided(ctx, 'resources/read', params, rec)),
    'resources/subscribe': decided('resources/subscribe', (ctx, params, { rec }) => relay.decided(ctx, 'resources/subscribe', params, rec)),
    'resources/unsubscribe': decided('resources/unsubscribe', (ctx, params, { rec }) => relay.decided(ctx, 'resources/unsubscribe', params, rec)),
    'completion/complete': decided('completion/complete', (ctx, params, { rec }) => relay.complete(ctx, params, rec)),
    'logging/setLevel': plain((ctx, params) => relay.setLevel(ctx, params)),
    'tasks/get': tasks('tasks/get'),
    'tasks/result': tasks('tasks/result'),
    'tasks/cancel': tasks('tasks/cancel'),
    'tasks/list': tasks('tasks/list'),
  };

  const dispatch: Dispatch = (ctx, method, params) => {
    const handler = Object.hasOwn(table, method) ? table[method] : undefined;
    if (!handler) return Promise.reject(new MethodNotFoundError(method));
    return handler(ctx, params);
  };
  return { dispatch, methods: new Set(Object.keys(table)) };
}

/** Task methods exist only where the transport keeps tasks (approvals configured, a session to hold them). */
function requireTasks(ctx: CallContext, method: string): TaskRunner {
  if (!ctx.tasks) throw new MethodNotFoundError(method);
  return ctx.tasks;
}
