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

/**
 * The stateless era (MCP 2026-07-28, SEP-2567/2575): no initialize, no session; every request carries its
 * version and the client's capabilities in `_meta`. The gateway serves these beside the 2025 session era.
 */
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = ['2026-07-28'];
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

/** True for a revision of the stateless era (2026-07-28 or later, supported or not: the caller decides). */
export function isModernVersion(v: unknown): v is string {
  return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && v >= '2026-07-28';
}

/** Every revision the gateway serves, newest first (for server/discover and UnsupportedProtocolVersion). */
export function supportedVersions(): string[] {
  return [...MODERN_PROTOCOL_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS];
}
