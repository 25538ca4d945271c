/**
 * Bounds on what one upstream may put in the catalog. An upstream's tool list feeds every tools/list policy
 * evaluation on /mcp, so without bounds one misbehaving server (100,000 tools, a 50 MB description) makes every
 * evaluation run over budget and blocks the event loop for everyone. A list over a bound is rejected for that
 * upstream alone; a single malformed tool is dropped; the rest of the gateway never sees either.
 */
import type { Tool } from '../protocol/mcp.js';

export interface ToolListLimits {
  /** Most tools one upstream may list. */
  maxTools: number;
  /** Longest tool description, in UTF-16 code units (String.length). */
  maxDescriptionLength: number;
  /** Largest tool list, as the UTF-8 bytes of its JSON. */
  maxBytes: number;
}

/** The schema's defaults (src/config/config.schema.json, servers[].toolList), for callers without a loaded config. */
export const DEFAULT_TOOL_LIST_LIMITS: Readonly<ToolListLimits> = Object.freeze({ maxTools: 2000, maxDescriptionLength: 16384, maxBytes: 4 * 1024 * 1024 });

export interface DroppedTool {
  /** The tool's name as the upstream sent it (cut to 80 characters), or null when it had none. */
  name: string | null;
  problem: string;
}

export type ToolListCheck =
  | { ok: true; tools: Tool[]; dropped: DroppedTool[] }
  | { ok: false; bound: keyof ToolListLimits; limit: number; actual: number };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// Control characters and lone surrogates in a name would reach logs, audit records and clients' UIs.
// eslint-disable-next-line no-control-regex
const BAD_NAME_CHARS = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a tool cannot be offered, or null if it can. */
function problemOf(t: unknown, limits: ToolListLimits): string | null {
  if (!isObject(t)) return 'not an object';
  if (typeof t.name !== 'string' || t.name === '') return 'name is missing or not a string';
  if (BAD_NAME_CHARS.test(t.name)) return 'name contains control characters or lone surrogates';
  if (t.title !== undefined && typeof t.title !== 'string') return 'title is not a string';
  if (t.description !== undefined && typeof t.description !== 'string') return 'description is not a string';
  if (typeof t.description === 'string' && t.description.length > limits.maxDescriptionLength) {
    return `description is ${t.description.length} characters, over maxDescriptionLength ${limits.maxDescriptionLength}`;
  }
  // MCP: inputSchema is a JSON Schema object whose type is "object"; arguments are validated against it.
  if (!isObject(t.inputSchema)) return 'inputSchema is missing or not an object';
  if (t.inputSchema.type !== undefined && t.inputSchema.type !== 'object') return 'inputSchema.type is not "object"';
  if (t.outputSchema !== undefined && !isObject(t.outputSchema)) return 'outputSchema is not an object';
  if (t.annotations !== undefined && !isObject(t.annotations)) return 'annotations is not an object';
  return null;
}

/**
 * Checks an upstream's whole list. The count is checked before anything is serialized, and the byte count stops at
 * the first tool that crosses the bound, so an oversized list costs little more than the upstream's own parsing.
 */
export function checkToolList(raw: readonly unknown[], limits: ToolListLimits): ToolListCheck {
  if (raw.length > limits.maxTools) return { ok: false, bound: 'maxTools', limit: limits.maxTools, actual: raw.length };
  let bytes = 2; // "[]"
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i];
    // A huge description is measured by its length first, without serializing it.
    const d = isObject(t) && typeof t.description === 'string' ? t.description.length : 0;
    if (bytes + d > limits.maxBytes) return { ok: false, bound: 'maxBytes', limit: limits.maxBytes, actual: bytes + d };
    bytes += Buffer.byteLength(JSON.stringify(t) ?? 'null') + (i > 0 ? 1 : 0);
    if (bytes > limits.maxBytes) return { ok: false, bound: 'maxBytes', limit: limits.maxBytes, actual: bytes };
  }
  const tools: Tool[] = [];
  const dropped: DroppedTool[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    const problem = problemOf(t, limits);
    const name = isObject(t) && typeof t.name === 'string' ? t.name.slice(0, 80) : null;
    if (problem) dropped.push({ name, problem });
    else if (seen.has((t as Tool).name)) dropped.push({ name, problem: 'duplicate name (the first tool of that name is kept)' });
    else {
      seen.add((t as Tool).name);
      tools.push(t as Tool);
    }
  }
  return { ok: true, tools, dropped };
}
