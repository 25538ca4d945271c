/**
 * The catalog: every upstream's tools, addressable as (serverId, toolName). The aggregate endpoint names them
 * `<serverId>__<name>`; a per-server endpoint uses the upstream's own names.
 */
import type { Upstream } from '../upstream/index.js';
import type { Tool } from '../protocol/mcp.js';
import { compileValidator, type ArgumentValidator } from '../validation/index.js';

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

  addServer(upstream: Upstream): void {
    const view: ServerView = Object.freeze({ id: upstream.id, transport: upstream.kind, labels: { ...upstream.config.labels } });
    this.servers.set(upstream.id, { upstream, view });
    this.byServer.set(upstream.id, new Map());
    upstream.on('tools', (tools: Tool[]) => this.setTools(upstream.id, tools));
  }

  setTools(serverId: string, tools: Tool[]): void {
    const s = this.servers.get(serverId);
    if (!s) return;
    const map = new Map<string, CatalogEntry>();
    for (const tool of tools) {
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
    this.byServer.set(serverId, map);
    this.rebuild();
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
  list(serverId: string | null): CatalogEntry[] {
    if (serverId === null) return this.aggregate;
    return this.perServer.get(serverId) ?? [];
  }

  /** Finds the tool a client named on an endpoint. */
  resolve(serverId: string | null, name: string): CatalogEntry | undefined {
    if (serverId === null) return this.byKey.get(name);
    return this.byServer.get(serverId)?.get(name);
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
