/**
 * Turns pipeline facts into policy input documents and evaluates them: one evaluation per tools/list (cached per
 * subject until the bundle, the catalog or the TTL changes), one per tools/call.
 */
import type { CatalogEntry } from '../catalog/index.js';
import { subjectForPolicy, type Subject } from '../identity/index.js';
import { parseDecision, type Decision } from './decision.js';
import { makeWellFormed } from './input-text.js';
import { ENTRYPOINT_DECISION, ENTRYPOINT_VISIBLE, type ActiveBundle, type PolicyEngine } from './engine.js';

/** Facts about the request, as policy sees them in input.request. */
export interface RequestFacts {
  time: string;
  /** HMAC of the session id: lets policy correlate without holding the session credential. */
  session: string | null;
  endpoint: string;
  protocol_version: string;
}

export type VisibleResult =
  | { ok: true; keys: ReadonlySet<string>; micros: number; cached: boolean; memo: Map<string, unknown> }
  | { ok: false; reason: string; micros: number; cause?: unknown };

export type DecideResult = { ok: true; decision: Decision; micros: number } | { ok: false; reason: string; micros: number; cause?: unknown };

interface CacheEntry {
  keys: ReadonlySet<string>;
  expires: number;
  /** Per-entry scratch space for derived values (the serialized tools/list answer). */
  memo: Map<string, unknown>;
}

const MAX_CACHE_ENTRIES = 10_000;

/** The list a visibility decision is about: input.tools, input.prompts, input.resources or input.resource_templates. */
export type ListKind = 'tools' | 'prompts' | 'resources' | 'resource_templates';

/** What a non-tool decision is about (prompts/get, resources/read, resources/subscribe, completion/complete). */
export interface Target {
  action: string;
  server: object;
  /** 'prompt' or 'resource': the input field the item appears under. */
  kind: 'prompt' | 'resource';
  item: Record<string, unknown>;
  arguments?: Record<string, unknown>;
}

/** Which request an evaluation belongs to (the pipeline passes its CallContext): named in decision log events. */
export interface DecisionRef {
  readonly decisionId: string;
  readonly remote?: string | undefined;
  readonly trace?: { readonly traceId: string; readonly spanId: string } | undefined;
}

/** Told of every evaluation, cached ones included; src/audit/decision-log.ts ships them in OPA's event format. */
export interface DecisionLogger {
  log(e: { path: string; input: Record<string, unknown>; result: unknown; error?: string; decision?: Decision; micros?: number; ref?: DecisionRef; bundle: ActiveBundle | null }): void;
}

export interface Authorizer {
  /** `catalogGeneration` identifies the list given (its generation and capability variant): the cache key. */
  visible(subject: Subject, entries: CatalogEntry[], facts: RequestFacts, catalogGeneration: number | string, ref?: DecisionRef): VisibleResult;
  decide(subject: Subject, entry: CatalogEntry, args: Record<string, unknown>, facts: RequestFacts, ref?: DecisionRef): DecideResult;
  /** One evaluation of portcullis/visible over prompts or resources (not cached: they are listed per session). */
  visibleItems(subject: Subject, action: string, kind: ListKind, items: Array<Record<string, unknown>>, facts: RequestFacts, ref?: DecisionRef): VisibleResult;
  decideTarget(subject: Subject, target: Target, facts: RequestFacts, ref?: DecisionRef): DecideResult;
  readonly bundle: ActiveBundle | null;
}

function keysOf(value: unknown): ReadonlySet<string> | null {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) return null;
  return new Set(value.filter((k): k is string => typeof k === 'string'));
}

export function createAuthorizer(engine: PolicyEngine, opts: { listCacheSeconds: number; decisionLogger?: DecisionLogger }): Authorizer {
  const cache = new Map<string, CacheEntry>();
  const ttlMs = opts.listCacheSeconds * 1000;
  const dl = opts.decisionLogger;
  const logEval = (path: string, input: Record<string, unknown>, r: { ok: boolean; value?: unknown; reason?: string; micros: number }, ref?: DecisionRef, decision?: Decision) =>
    dl?.log({ path, input, result: r.ok ? r.value : undefined, error: r.ok ? undefined : r.reason, decision, micros: r.micros, ref, bundle: engine.bundle });

  return {
    get bundle() {
      return engine.bundle;
    },

    visible(subject, entries, facts, catalogGeneration, ref) {
      const bundle = engine.bundle;
      const makeInput = () => ({ action: 'tools/list', subject: subjectForPolicy(subject), tools: entries.map((e) => e.policyView), request: facts });
      if (!bundle) {
        if (dl) logEval(ENTRYPOINT_VISIBLE, makeInput(), { ok: false, reason: 'no policy bundle loaded', micros: 0 }, ref);
        return { ok: false, reason: 'no policy bundle loaded', micros: 0 };
      }
      const key = `${bundle.generation}:${catalogGeneration}:${facts.endpoint}:${subject.fingerprint}`;
      const now = Date.now();
      const hit = cache.get(key);
      if (hit && hit.expires > now) {
        if (dl) logEval(ENTRYPOINT_VISIBLE, makeInput(), { ok: true, value: [...hit.keys], micros: 0 }, ref);
        return { ok: true, keys: hit.keys, micros: 0, cached: true, memo: hit.memo };
      }
      const input = makeInput();
      const r = engine.evaluate(ENTRYPOINT_VISIBLE, input);
      logEval(ENTRYPOINT_VISIBLE, input, r, ref);
      if (!r.ok) return r;
      // Undefined means "sees nothing"; anything but a list of keys is a policy bug and fails closed.
      const keys = keysOf(r.value);
      if (!keys) return { ok: false, reason: 'portcullis/visible must be a set of keys', micros: r.micros };
      if (ttlMs > 0) {
        if (cache.size >= MAX_CACHE_ENTRIES) cache.clear();
        cache.set(key, { keys, expires: now + ttlMs, memo: new Map() });
      }
      return { ok: true, keys, micros: r.micros, cached: false, memo: new Map() };
    },

    decide(subject, entry, args, facts, ref) {
      // In place, so the upstream gets exactly what policy judges: lone surrogates become U+FFFD (input-text.ts).
      makeWellFormed(args);
      const input = {
        action: 'tools/call',
        subject: subjectForPolicy(subject),
        server: entry.server,
        tool: {
          key: entry.key,
          name: entry.tool.name,
          title: entry.tool.title,
          description: entry.tool.description,
          annotations: entry.tool.annotations ?? {},
          inputSchema: entry.tool.inputSchema,
        },
        arguments: args,
        request: facts,
      };
      return decideWith(input, ref);
    },

    visibleItems(subject, action, kind, items, facts, ref) {
      const input = { action, subject: subjectForPolicy(subject), [kind]: items, request: facts };
      const r = engine.evaluate(ENTRYPOINT_VISIBLE, input);
      logEval(ENTRYPOINT_VISIBLE, input, r, ref);
      if (!r.ok) return r;
      const keys = keysOf(r.value);
      if (!keys) return { ok: false, reason: 'portcullis/visible must be a set of keys', micros: r.micros };
      return { ok: true, keys, micros: r.micros, cached: false, memo: new Map() };
    },

    decideTarget(subject, target, facts, ref) {
      if (target.arguments) makeWellFormed(target.arguments);
      return decideWith({
        action: target.action,
        subject: subjectForPolicy(subject),
        server: target.server,
        [target.kind]: target.item,
        arguments: target.arguments ?? {},
        request: facts,
      }, ref);
    },
  };

  function decideWith(input: Record<string, unknown>, ref?: DecisionRef): DecideResult {
    const r = engine.evaluate(ENTRYPOINT_DECISION, input);
    if (!r.ok) {
      logEval(ENTRYPOINT_DECISION, input, r, ref);
      return r;
    }
    try {
      const decision = parseDecision(r.value);
      // Logged with its decision: the logger masks the input's arguments as the decision says (a copy; the
      // pipeline redacts the original in place later).
      logEval(ENTRYPOINT_DECISION, input, r, ref, decision);
      return { ok: true, decision, micros: r.micros };
    } catch (err) {
      logEval(ENTRYPOINT_DECISION, input, { ok: false, reason: (err as Error).message, micros: r.micros }, ref);
      return { ok: false, reason: (err as Error).message, micros: r.micros };
    }
  }
}
