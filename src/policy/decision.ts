/** The decision document: what policy returns for a call, normalised and checked so malformed output fails closed. */

export type Outcome = 'allow' | 'deny' | 'needs_approval';

export interface MaskRule {
  name?: string;
  pattern: RegExp;
  replacement: string;
}

export interface RedactionSpec {
  drop: string[];
  mask: MaskRule[];
}

export interface Decision {
  outcome: Outcome;
  reasons: string[];
  redactArguments: RedactionSpec;
  redactResult: RedactionSpec;
  credential?: string;
  approval?: { approvers: string[]; timeoutSeconds?: number };
  /** The limit bucket (quotas.buckets) this call is charged to; `key` splits the bucket further (e.g. a team). */
  quota?: { bucket: string; key?: string };
}

const NO_REDACTION: RedactionSpec = Object.freeze({ drop: [], mask: [] }) as RedactionSpec;

// Compiled patterns are cached: a bundle uses a handful of patterns, calls use them thousands of times.
const patternCache = new Map<string, RegExp>();

function compilePattern(source: string): RegExp {
  let re = patternCache.get(source);
  if (!re) {
    re = new RegExp(source, 'g');
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(source, re);
  }
  return re;
}

export class DecisionShapeError extends Error {
  override name = 'DecisionShapeError';
}

function parseRedaction(v: unknown, where: string): RedactionSpec {
  if (v === undefined || v === null) return NO_REDACTION;
  if (typeof v !== 'object') throw new DecisionShapeError(`${where} must be an object`);
  const o = v as { drop?: unknown; mask?: unknown };
  const drop = o.drop === undefined ? [] : o.drop;
  if (!Array.isArray(drop) || !drop.every((p) => typeof p === 'string' && (p === '' || p.startsWith('/')))) {
    throw new DecisionShapeError(`${where}.drop must be a list of JSON pointers`);
  }
  const maskIn = o.mask === undefined ? [] : o.mask;
  if (!Array.isArray(maskIn)) throw new DecisionShapeError(`${where}.mask must be a list`);
  const mask = maskIn.map((m, i) => {
    const r = m as { name?: unknown; pattern?: unknown; replacement?: unknown };
    if (typeof r?.pattern !== 'string') throw new DecisionShapeError(`${where}.mask[${i}].pattern must be a string`);
    let pattern: RegExp;
    try {
      pattern = compilePattern(r.pattern);
    } catch {
      throw new DecisionShapeError(`${where}.mask[${i}].pattern is not a valid regular expression`);
    }
    return {
      name: typeof r.name === 'string' ? r.name : undefined,
      pattern,
      replacement: typeof r.replacement === 'string' ? r.replacement : '[redacted]',
    };
  });
  return drop.length === 0 && mask.length === 0 ? NO_REDACTION : { drop: drop as string[], mask };
}

/** Throws DecisionShapeError on anything that is not a well-formed decision; the caller turns that into a deny. */
export function parseDecision(raw: unknown): Decision {
  if (raw === undefined) throw new DecisionShapeError('policy returned no decision (undefined)');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DecisionShapeError('decision must be an object');
  const d = raw as Record<string, unknown>;
  const outcome = d.outcome;
  if (outcome !== 'allow' && outcome !== 'deny' && outcome !== 'needs_approval') {
    throw new DecisionShapeError(`decision.outcome must be allow, deny or needs_approval (got ${JSON.stringify(outcome) ?? 'nothing'})`);
  }
  const reasons = Array.isArray(d.reasons) ? d.reasons.filter((r): r is string => typeof r === 'string') : [];
  const redact = (d.redact ?? {}) as Record<string, unknown>;
  const decision: Decision = {
    outcome,
    reasons,
    redactArguments: parseRedaction(redact.arguments, 'redact.arguments'),
    redactResult: parseRedaction(redact.result, 'redact.result'),
  };
  if (typeof d.credential === 'string') decision.credential = d.credential;
  if (d.approval && typeof d.approval === 'object') {
    const a = d.approval as { approvers?: unknown; timeout_seconds?: unknown };
    decision.approval = {
      approvers: Array.isArray(a.approvers) ? a.approvers.filter((x): x is string => typeof x === 'string') : [],
      timeoutSeconds: typeof a.timeout_seconds === 'number' ? a.timeout_seconds : undefined,
    };
  }
  if (d.quota !== undefined) {
    const q = d.quota as { bucket?: unknown; key?: unknown } | null;
    if (typeof q?.bucket !== 'string' || q.bucket === '') throw new DecisionShapeError('decision.quota.bucket must be a non-empty string');
    if (q.key !== undefined && typeof q.key !== 'string') throw new DecisionShapeError('decision.quota.key must be a string');
    decision.quota = q.key === undefined ? { bucket: q.bucket } : { bucket: q.bucket, key: q.key };
  }
  return decision;
}
