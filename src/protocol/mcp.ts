/** MCP protocol facts the gateway relies on: versions, and the shapes of tools it forwards as they are. */
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

export { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS };

/** Transport spec: a server without the header must assume this revision. */
export const DEFAULT_PROTOCOL_VERSION = '2025-03-26';

/** A tool as an upstream lists it. Schemas are forwarded untouched, so this stays a loose record. */
export interface Tool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  [key: string]: unknown;
}

export function negotiateVersion(requested: unknown): string {
  return typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/** Methods the gateway relays to upstreams through policy besides tools (served by pipeline/relay-methods.ts). */
export const RELAYED_METHODS = new Set([
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'completion/complete',
  'logging/setLevel',
]);

/**
 * The client capabilities an upstream's lists may depend on, as a short stable key ('' for none): an upstream
 * may list a sampling tool only to clients that can sample. Only known capability names count, so a client
 * cannot mint unbounded keys (and cache entries) with capabilities of its own invention.
 */
const LIST_RELEVANT_CAPABILITIES = ['elicitation', 'roots', 'sampling', 'tasks'] as const;

export function capabilityKey(capabilities: unknown): string {
  if (!capabilities || typeof capabilities !== 'object') return '';
  const c = capabilities as Record<string, unknown>;
  return LIST_RELEVANT_CAPABILITIES.filter((k) => c[k] !== undefined && c[k] !== null).join(',');
}
