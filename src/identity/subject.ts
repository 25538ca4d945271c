/** The Subject: who is calling, as policy sees it. Built from verified claims; the raw token is never kept. */
import { createHash } from 'node:crypto';

export interface Subject {
  anonymous: boolean;
  iss?: string;
  sub: string;
  client_id?: string;
  scopes: string[];
  roles: string[];
  groups: string[];
  /** All verified claims, for policies that need more than the fields above. */
  claims: Record<string, unknown>;
  /**
   * The validity window of the token that made the request (JWT exp / nbf, seconds since the epoch), when it had
   * one: a call held for approval checks it again when it is released, since the token may have lapsed meanwhile.
   */
  readonly exp?: number;
  readonly nbf?: number;
  /** Stable key of (iss, sub): a session is bound to it (security checklist C14). */
  readonly principal: string;
  /** Hash of every policy-relevant fact; equal fingerprints may share cached list decisions. */
  readonly fingerprint: string;
}

export const ANONYMOUS: Subject = Object.freeze({
  anonymous: true,
  sub: 'anonymous',
  scopes: [],
  roles: [],
  groups: [],
  claims: {},
  principal: 'anonymous',
  fingerprint: 'anonymous',
}) as Subject;

// Claims that change with every token but say nothing about who the caller is.
const VOLATILE_CLAIMS = new Set(['exp', 'iat', 'nbf', 'jti', 'auth_time']);

function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  return [];
}

export function subjectFromClaims(claims: Record<string, unknown>, rolesClaim: string, groupsClaim: string): Subject {
  const scopes = stringList(claims.scope ?? claims.scp);
  const stable: Record<string, unknown> = {};
  for (const k of Object.keys(claims).sort()) if (!VOLATILE_CLAIMS.has(k)) stable[k] = claims[k];
  const iss = typeof claims.iss === 'string' ? claims.iss : undefined;
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  const clientId = claims.client_id ?? claims.azp;
  return {
    anonymous: false,
    iss,
    sub,
    client_id: typeof clientId === 'string' ? clientId : undefined,
    scopes,
    roles: stringList(claims[rolesClaim]),
    groups: stringList(claims[groupsClaim]),
    claims,
    exp: typeof claims.exp === 'number' ? claims.exp : undefined,
    nbf: typeof claims.nbf === 'number' ? claims.nbf : undefined,
    principal: `${iss ?? ''}\u0000${sub}`,
    fingerprint: createHash('sha256').update(JSON.stringify(stable)).digest('base64url'),
  };
}

/** The subject as it appears in the policy input document (no internal keys). */
export function subjectForPolicy(s: Subject): Record<string, unknown> {
  return {
    anonymous: s.anonymous,
    iss: s.iss,
    sub: s.sub,
    client_id: s.client_id,
    scopes: s.scopes,
    roles: s.roles,
    groups: s.groups,
    claims: s.claims,
  };
}
