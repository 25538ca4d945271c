/** The per-request record that travels through the pipeline stages. */
import { randomUUID } from 'node:crypto';
import type { Subject } from '../identity/index.js';
import type { RequestFacts } from '../policy/index.js';
import type { RequestTrace } from '../telemetry/tracing.js';
import type { Session } from '../transport/sessions.js';
import type { ClientUpstreams, Relay } from '../upstream/index.js';

export interface CallContext {
  readonly decisionId: string;
  readonly started: number;
  readonly subject: Subject;
  readonly session: Session;
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
  /** Set by a stage that needs the serialized answer (quota accounting); the transport calls it once it is built. */
  onAnswer?: (answer: string) => void;
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
