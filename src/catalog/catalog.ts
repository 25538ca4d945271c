/**
 * The catalog: every upstream's tools, addressable as (serverId, toolName). The aggregate endpoint names them
 * `<serverId>__<name>`; a per-server endpoint uses the upstream's own names.
 */
import type { Upstream } from '../upstream/index.js';
import type { Tool } from '../protocol/mcp.js';
import { compileValidator, type ArgumentValidator } from '../validation/index.js';
import { makeWellFormed } from '../protocol/well-formed.js';
import { checkToolList, DEFAULT_TOOL_LIST_LIMITS } from './limits.js';

/** Where the catalog reports rejected lists and dropped tools (the gateway's logger). */
export interface CatalogLog {
  warn(message: string, meta: Record<string, unknown>): unknown;
}

export const NAMESPACE_SEPARATOR = '__';

export interface ServerView {
  id: string;
  transport: 'http' | 'stdio';
  labels: Record<string, string>;
}

export interface CatalogEntry {
  /** `<serverId>__<name>`: the tool's key for policy and its name on /mcp. */
  key: string;
  server: ServerView;
  tool: Tool;
  upstream: Upstream;
  /** The tool as policy sees it at list time (no schemas: they are large and rarely decide visibility). */
  policyView: Record<string, unknown>;
  /** Compiled on first use and kept until the tool list changes. */
  validator?: ArgumentValidator;
}

export class Catalog {
  /** Increments whenever any server's tool list changes; list caches key on it. */
  generation = 0;
  readonly servers = new Map<string, { upstream: Upstream; view: ServerView }>();
  private readonly byKey = new Map<string, CatalogEntry>();
  private readonly byServer = new Map<string, Map<string, CatalogEntry>>();
  private aggregate: CatalogEntry[] = [];
  /** Per-server lists, rebuilt with the catalog: every call asks for one, so none is copied per call. */
  private perServer = new Map<string, CatalogEntry[]>();
  /** Tool lists rejected for exceeding a bound, per server: a counter for metrics. */
  readonly rejectedLists = new Map<string, number>();
  /** Tools dropped as malformed, per server: a counter for metrics. */
  readonly droppedTools = new Map<string, number>();

  constructor(private readonly log?: CatalogLog) {}

  addServer(upstream: Upstream): void {
    const view: ServerView = Object.freeze({ id: upstream.id, transport: upstream.kind, labels: { ...upstream.config.labels } });
    this.servers.set(upstream.id, { upstream, view });
    this.byServer.set(upstream.id, new Map());
    upstream.on('tools', (tools: unknown[]) => this.setTools(upstream.id, tools));
  }

  /**
   * Tool lists that depend on the client's capabilities (an upstream may list a sampling tool only to clients that
   * can sample): per capability key, the servers whose list for such clients differs from the base one. Keyed
   * by what the upstream's answer depends on, filled on first use by the pipeline, dropped when the base changes.
   */
  private readonly variants = new Map<string, Map<string, Map<string, CatalogEntry>>>();
  private readonly variantViews = new Map<string, { aggregate: CatalogEntry[]; perServer: Map<string, CatalogEntry[]> }>();

  /**
   * Replaces a server's tools with the list it sent, within its bounds (servers[].toolList). A list over a bound is
   * rejected and the server keeps its last good list (none before the first); malformed tools are dropped. Either
   * way only this server is affected.
   */
  setTools(serverId: string, tools: readonly unknown[]): void {
    const map = this.entriesFor(serverId, tools);
    if (!map) return;
    this.byServer.set(serverId, map);
    // Every capability variant of this server is stale now; the pipeline asks again on next use.
    for (const v of this.variants.values()) v.delete(serverId);
    this.variantViews.clear();
    this.rebuild();
  }

  /** Servers on an endpoint whose list for clients with `capKey` the catalog has not yet been told. */
  missingVariants(serverId: string | null, capKey: string): string[] {
    if (capKey === '') return [];
    const v = this.variants.get(capKey);
    const ids = serverId === null ? [...this.servers.keys()] : this.servers.has(serverId) ? [serverId] : [];
    // A STDIO server is one process initialized by the gateway: every client sees its base list.
    return ids.filter((id) => this.servers.get(id)!.upstream.kind === 'http' && !v?.has(id));
  }

  /** The server's tool list as a client declaring `capKey` sees it. */
  setVariant(serverId: string, capKey: string, tools: readonly unknown[]): void {
    if (capKey === '' || !this.servers.has(serverId)) return;
    // A variant over a bound is answered with the base list, and recorded so it is not asked for again per request.
    const map = this.entriesFor(serverId, tools) ?? this.byServer.get(serverId) ?? new Map<string, CatalogEntry>();
    let v = this.variants.get(capKey);
    if (!v) this.variants.set(capKey, (v = new Map()));
    // Same names, same definitions: share the base entries (and their compiled validators).
    const base = this.byServer.get(serverId);
    if (map === base) v.set(serverId, base);
    else if (base && base.size === map.size && [...map].every(([n, e]) => JSON.stringify(base.get(n)?.tool) === JSON.stringify(e.tool))) v.set(serverId, base);
    else v.set(serverId, map);
    this.variantViews.delete(capKey);
    this.generation++;
  }

  /** The entries for a list the server sent, or undefined for an unknown server or a list over a bound (logged). */
  private entriesFor(serverId: string, raw: readonly unknown[]): Map<string, CatalogEntry> | undefined {
    const s = this.servers.get(serverId);
    if (!s) return undefined;
    const check = checkToolList(raw, s.upstream.config.toolList ?? DEFAULT_TOOL_LIST_LIMITS);
    if (!check.ok) {
      this.rejectedLists.set(serverId, (this.rejectedLists.get(serverId) ?? 0) + 1);
      this.log?.warn('upstream tool list rejected: over a bound; the last good list keeps serving', {
        server: serverId,
        bound: `toolList.${check.bound}`,
        limit: check.limit,
        actual: check.actual,
        serving: this.byServer.get(serverId)?.size ?? 0,
      });
      return undefined;
    }
    if (check.dropped.length > 0) {
      this.droppedTools.set(serverId, (this.droppedTools.get(serverId) ?? 0) + check.dropped.length);
      // One line per list, not per tool: a list of thousands of bad tools must not flood the log.
      this.log?.warn('upstream tools dropped from the catalog: malformed', { server: serverId, dropped: check.dropped.length, examples: check.dropped.slice(0, 5) });
    }
    const map = new Map<string, CatalogEntry>();
    for (const tool of check.tools) {
      // A lone surrogate (in a description, a schema) would make strict JSON clients (serde_json) refuse the whole
      // tools/list answer; clients, policy and validation all get U+FFFD instead. Names with one were dropped above.
      makeWellFormed(tool);
      const key = `${serverId}${NAMESPACE_SEPARATOR}${tool.name}`;
      map.set(tool.name, {
        key,
        server: s.view,
        tool,
        upstream: s.upstream,
        policyView: {
          key,
          name: tool.name,
          title: tool.title,
          description: tool.description,
          annotations: tool.annotations ?? {},
          server: s.view,
        },
      });
    }
    return map;
  }

  private rebuild(): void {
    this.byKey.clear();
    const all: CatalogEntry[] = [];
    for (const map of this.byServer.values()) {
      for (const e of map.values()) {
        this.byKey.set(e.key, e);
        all.push(e);
      }
    }
    this.aggregate = all;
    this.perServer = new Map([...this.byServer].map(([id, map]) => [id, [...map.values()]]));
    this.generation++;
  }

  /** Tools offered on an endpoint: every server's for the aggregate (serverId null), else that server's. */
  list(serverId: string | null, capKey = ''): CatalogEntry[] {
    const view = capKey === '' ? undefined : this.variantView(capKey);
    if (serverId === null) return view?.aggregate ?? this.aggregate;
    return (view?.perServer ?? this.perServer).get(serverId) ?? [];
  }

  /** Finds the tool a client named on an endpoint. */
  resolve(serverId: string | null, name: string, capKey = ''): CatalogEntry | undefined {
    const v = capKey === '' ? undefined : this.variants.get(capKey);
    if (serverId === null) {
      if (!v) return this.byKey.get(name);
      const i = name.indexOf(NAMESPACE_SEPARATOR);
      if (i <= 0) return undefined;
      const sid = name.slice(0, i);
      return (v.get(sid) ?? this.byServer.get(sid))?.get(name.slice(i + NAMESPACE_SEPARATOR.length));
    }
    return (v?.get(serverId) ?? this.byServer.get(serverId))?.get(name);
  }

  /** The lists for clients with `capKey`: each server's variant where it has one, else its base list. */
  private variantView(capKey: string): { aggregate: CatalogEntry[]; perServer: Map<string, CatalogEntry[]> } | undefined {
    const v = this.variants.get(capKey);
    if (!v) return undefined;
    let view = this.variantViews.get(capKey);
    if (!view) {
      const perServer = new Map<string, CatalogEntry[]>();
      for (const [id, base] of this.byServer) perServer.set(id, [...(v.get(id) ?? base).values()]);
      view = { aggregate: [...perServer.values()].flat(), perServer };
      this.variantViews.set(capKey, view);
    }
    return view;
  }

  /** The name a client sees on an endpoint. */
  static exposedName(entry: CatalogEntry, serverId: string | null): string {
    return serverId === null ? entry.key : entry.tool.name;
  }

  validatorFor(entry: CatalogEntry): ArgumentValidator {
    entry.validator ??= compileValidator(entry.tool.name, entry.tool.inputSchema);
    return entry.validator;
  }
}
