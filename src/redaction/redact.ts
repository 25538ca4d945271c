/**
 * Applies a decision's redaction to arguments (before they go upstream) and to results (before they reach the
 * client): JSON pointers to drop (with `*` matching every member) and patterns to mask in every string.
 */
import type { RedactionSpec } from '../policy/index.js';

export type { RedactionReport } from './report.js';
import type { RedactionReport } from './report.js';

function unescape(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

function dropPath(node: unknown, segs: string[], i: number, trail: string, erased: string[]): void {
  if (node === null || typeof node !== 'object') return;
  const seg = segs[i]!;
  const last = i === segs.length - 1;
  if (Array.isArray(node)) {
    const indices = seg === '*' ? node.map((_, k) => k) : /^\d+$/.test(seg) ? [Number(seg)] : [];
    if (last) {
      // Remove from the end so earlier indices stay valid.
      for (const k of indices.filter((k) => k < node.length).sort((a, b) => b - a)) {
        node.splice(k, 1);
        erased.push(`${trail}/${k}`);
      }
      return;
    }
    for (const k of indices) dropPath(node[k], segs, i + 1, `${trail}/${k}`, erased);
    return;
  }
  const obj = node as Record<string, unknown>;
  const keys = seg === '*' ? Object.keys(obj) : Object.prototype.hasOwnProperty.call(obj, seg) ? [seg] : [];
  for (const k of keys) {
    if (last) {
      delete obj[k];
      erased.push(`${trail}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    } else dropPath(obj[k], segs, i + 1, `${trail}/${k}`, erased);
  }
}

function maskStrings(node: unknown, spec: RedactionSpec, counts: Record<string, number>): unknown {
  if (typeof node === 'string') {
    let s = node;
    for (const rule of spec.mask) {
      rule.pattern.lastIndex = 0;
      let n = 0;
      s = s.replace(rule.pattern, () => {
        n++;
        return rule.replacement;
      });
      if (n > 0) {
        const name = rule.name ?? rule.pattern.source;
        counts[name] = (counts[name] ?? 0) + n;
      }
    }
    return s;
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = maskStrings(node[i], spec, counts);
    return node;
  }
  if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    for (const k of Object.keys(obj)) obj[k] = maskStrings(obj[k], spec, counts);
    return obj;
  }
  return node;
}

/**
 * Redacts in place and returns the value. Callers pass documents they own (freshly parsed request arguments or
 * an upstream result), so no copy is made on the hot path.
 */
export function redact<T>(value: T, spec: RedactionSpec, report: RedactionReport): T {
  if (spec.drop.length === 0 && spec.mask.length === 0) return value;
  for (const pointer of spec.drop) {
    if (pointer === '') continue; // dropping the whole document is not a redaction; deny instead
    dropPath(value, pointer.split('/').slice(1).map(unescape), 0, '', report.erased);
  }
  if (spec.mask.length > 0) return maskStrings(value, spec, report.masked) as T;
  return value;
}

export function emptyReport(): RedactionReport {
  return { erased: [], masked: {} };
}
