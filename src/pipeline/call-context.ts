/** The per-request record that travels through the pipeline stages. */
import { randomUUID } from 'node:crypto';
import type { Subject } from '../identity/index.js';
import type { RequestFacts } from '../policy/index.js';
import type { RequestTrace } from '../telemetry/tracing.js';
import type { ClientUpstreams, Relay } from '../upstream/index.js';

/** What the pipeline knows of the client's session: enough to audit and decide, nothing of the transport. */
export interface ClientRef {
  /** HMAC of the session id (the id is a bearer credential); null for a stateless request. */
  readonly hash: string | null;
  readonly protocolVersion: string;
  /** The client capabilities lists may depend on (protocol/mcp.ts capabilityKey). */
  readonly capabilityKey: string;
}

export interface CallContext {
  readonly decisionId: string;
  readonly started: number;
  readonly subject: Subject;
  readonly session: ClientRef;
  /** null on /mcp (namespaced names), the server id on /mcp/<serverId>. */
  readonly serverId: string | null;
  readonly facts: RequestFacts;
  readonly signal: AbortSignal;
  readonly remote: string | undefined;
  /** The client's own upstream sessions. */
  readonly upstreams: ClientUpstreams;
  /** Carries upstream messages related to this request (progress, sampling, logs) back on its response stream. */
  readonly relay: Relay;
  /** The request's trace, with tracing on: stages call ctx.trace?.enter(stage), which costs nothing when it is off. */
  readonly trace?: RequestTrace;
  /** Where this request's tools/call may run as an MCP task; absent where the transport keeps no tasks. */
  readonly tasks?: TaskRunner;
}

export function newCallContext(fields: Omit<CallContext, 'decisionId' | 'started' | 'facts'>): CallContext {
  const endpoint = fields.serverId === null ? '/mcp' : `/mcp/${fields.serverId}`;
  return {
    ...fields,
    decisionId: randomUUID(),
    started: performance.now(),
    facts: {
      time: new Date().toISOString(),
      session: fields.session.hash,
      endpoint,
      protocol_version: fields.session.protocolVersion,
    },
  };
}

export function elapsedMs(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

/**
 * MCP tasks (2025-11-25) for tools/call, provided by whoever keeps the client's tasks (its session). The pipeline
 * only decides when a call becomes a task and what runs inside it: the same frame as an ordinary call.
 */
export interface TaskRunner {
  /** True when this tools/call asks to run as a task (params.task). */
  wants(params: Record<string, unknown>): boolean;
  /**
   * Starts `run` apart from this request and returns the CreateTaskResult. `run` resolves with the result's JSON
   * text, as the frame serialized it: the task keeps that text (its size is what the task bounds count).
   */
  start(ctx: CallContext, params: Record<string, unknown>, run: (taskCtx: CallContext, call: Record<string, unknown>) => Promise<string>): unknown;
  /** tasks/get, tasks/result, tasks/cancel, tasks/list on the caller's own tasks. */
  request(ctx: CallContext, method: string, params: Record<string, unknown>): Promise<unknown>;
}
