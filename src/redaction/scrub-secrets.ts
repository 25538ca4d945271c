/**
 * Removes injected credentials from what an upstream sends back. A tool that echoes its headers or environment
 * would otherwise hand the agent the very secret the gateway exists to keep from it (checklist C23).
 */
import type { RedactionReport } from './redact.js';

const REPLACEMENT = '[redacted:credential]';
// Shorter values would match ordinary text; a credential this short is not worth the false positives.
const MIN_SECRET_LENGTH = 6;

/** The secret and the encodings it is likely to be echoed in. */
function forms(secret: string): string[] {
  const b = Buffer.from(secret, 'utf8');
  return [...new Set([secret, b.toString('base64'), b.toString('base64url'), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])];
}

export function scrubSecrets<T>(value: T, secrets: readonly string[] | undefined, report: RedactionReport): T {
  if (!secrets || secrets.length === 0) return value;
  const needles = secrets.filter((s) => s.length >= MIN_SECRET_LENGTH).flatMap(forms).sort((a, b) => b.length - a.length);
  if (needles.length === 0) return value;
  let count = 0;
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') {
      let s = node;
      for (const n of needles) {
        if (!s.includes(n)) continue;
        const parts = s.split(n);
        count += parts.length - 1;
        s = parts.join(REPLACEMENT);
      }
      return s;
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) node[i] = walk(node[i]);
      return node;
    }
    if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = walk(o[k]);
    }
    return node;
  };
  const out = walk(value) as T;
  if (count > 0) report.masked.credential = (report.masked.credential ?? 0) + count;
  return out;
}
