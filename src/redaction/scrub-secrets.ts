/**
 * Removes injected credentials from what an upstream sends back. A tool that echoes its headers or environment
 * would otherwise hand the agent the very secret the gateway exists to keep from it (checklist C23). Everything
 * that leaves towards the client goes through it: results, errors, notifications and relayed requests, in values
 * and in object keys alike (an upstream can as well echo a secret as a property name of structuredContent).
 */
import type { RedactionReport } from './report.js';

export const CREDENTIAL_REPLACEMENT = '[redacted:credential]';
// Shorter values would match ordinary text; a credential this short is not worth the false positives.
const MIN_SECRET_LENGTH = 6;

/** The secret and the encodings it is likely to be echoed in. */
function forms(secret: string): string[] {
  const b = Buffer.from(secret, 'utf8');
  const hex = b.toString('hex');
  return [
    ...new Set([
      secret,
      b.toString('base64'),
      b.toString('base64url'),
      encodeURIComponent(secret),
      JSON.stringify(secret).slice(1, -1),
      hex,
      hex.toUpperCase(),
    ]),
  ];
}

/** A scrubber compiled once for a set of secrets; `null` from compileScrubber when there is nothing to scrub. */
export interface Scrubber {
  /** The string with every form of every secret replaced, and how many were. */
  text(s: string): { text: string; count: number };
  /** Scrubs a JSON value in place (keys and strings at any depth); returns the value and the count. */
  value<T>(v: T): { value: T; count: number };
}

// An HTTP call's injection (and so its secrets array) is reused for every call on the same credential: compile
// once per array. Callers hand over arrays they no longer change.
const compiled = new WeakMap<readonly string[], Scrubber | null>();

export function compileScrubber(secrets: readonly string[] | undefined): Scrubber | null {
  if (!secrets || secrets.length === 0) return null;
  let s = compiled.get(secrets);
  if (s === undefined) compiled.set(secrets, (s = compile(secrets)));
  return s;
}

function compile(secrets: readonly string[]): Scrubber | null {
  // Longest first, so a secret's base64 is replaced before a shorter secret inside it could break it up.
  const needles = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH).flatMap(forms))].sort((a, b) => b.length - a.length);
  if (needles.length === 0) return null;
  const text = (s: string): { text: string; count: number } => {
    let count = 0;
    for (const n of needles) {
      if (!s.includes(n)) continue;
      const parts = s.split(n);
      count += parts.length - 1;
      s = parts.join(CREDENTIAL_REPLACEMENT);
    }
    return { text: s, count };
  };
  const value = <T>(v: T): { value: T; count: number } => {
    let count = 0;
    const str = (s: string): string => {
      const r = text(s);
      count += r.count;
      return r.text;
    };
    const walk = (node: unknown): unknown => {
      if (typeof node === 'string') return str(node);
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) node[i] = walk(node[i]);
        return node;
      }
      if (node !== null && typeof node === 'object') {
        const o = node as Record<string, unknown>;
        let renamed = false;
        const entries = Object.keys(o).map((k): [string, unknown] => {
          const nk = str(k);
          if (nk !== k) renamed = true;
          return [nk, walk(o[k])];
        });
        if (renamed) {
          // A renamed key: rebuild the object so member order is kept (two keys collapsing into one is harmless).
          for (const k of Object.keys(o)) delete o[k];
        }
        for (const [k, val] of entries) setOwn(o, k, val);
        return o;
      }
      return node;
    };
    const out = walk(v) as T;
    return { value: out, count };
  };
  return { text, value };
}

/** Sets an own property even for a key like "__proto__" (JSON.parse makes those own properties; `o[k] =` would not). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

export function scrubSecrets<T>(value: T, secrets: readonly string[] | undefined, report: RedactionReport): T {
  const scrubber = compileScrubber(secrets);
  if (!scrubber) return value;
  const r = scrubber.value(value);
  if (r.count > 0) report.masked.credential = (report.masked.credential ?? 0) + r.count;
  return r.value;
}
