/**
 * Stage 3 helper: makes sure the catalog knows each upstream's tool list as this client sees it. An upstream
 * may answer tools/list differently to clients with different capabilities (server-everything lists its sampling
 * and elicitation tools only to clients that declare them), so the list is asked once per capability key through
 * a session initialized with those capabilities (the client's own), and kept until the upstream's list changes.
 */
import type { Catalog } from '../catalog/index.js';
import type { Tool } from '../protocol/mcp.js';
import type { Logger } from '../telemetry/logger.js';
import type { CallContext } from './call-context.js';

/** Most pages read of one list (as the catalog session reads them). */
const MAX_PAGES = 1000;

export type EnsureVariants = (ctx: CallContext) => Promise<void>;

export function createVariantLoader(catalog: Catalog, log: Logger): EnsureVariants {
  const inflight = new Map<string, Promise<void>>();

  async function load(ctx: CallContext, serverId: string, capKey: string): Promise<void> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const a = await ctx.upstreams.request(serverId, 'tools/list', cursor ? { cursor } : {}, { signal: ctx.signal });
      if (!a.ok) throw new Error(a.error.message);
      const r = (a.result ?? {}) as { tools?: Tool[]; nextCursor?: string };
      for (const t of r.tools ?? []) if (t && typeof t.name === 'string') tools.push(t);
      if (typeof r.nextCursor !== 'string' || r.nextCursor === '') break;
      cursor = r.nextCursor;
    }
    catalog.setVariant(serverId, capKey, tools);
  }

  return async function ensureVariants(ctx) {
    const capKey = ctx.session.capabilityKey;
    const missing = catalog.missingVariants(ctx.serverId, capKey);
    if (missing.length === 0) return;
    await Promise.all(
      missing.map((serverId) => {
        const k = `${serverId}\u0000${capKey}`;
        const running = inflight.get(k);
        if (running) return running;
        const p = load(ctx, serverId, capKey)
          // The base list still serves when the variant cannot be had (upstream down): fail soft, log it.
          .catch((err: unknown) => {
            log.debug('capability-specific tool list unavailable', { server: serverId, capabilities: capKey, error: (err as Error).message });
          })
          .finally(() => inflight.delete(k));
        inflight.set(k, p);
        return p;
      }),
    );
  };
}
