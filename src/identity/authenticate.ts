/** Verifies JWT bearer tokens with jose against a JWKS (file or URL), checking issuer, audience and algorithm. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config/index.js';
import { AuthenticationError } from '../errors/index.js';
import { ANONYMOUS, subjectFromClaims, type Subject } from './subject.js';

/**
 * Takes the Authorization header value and the request URL; resolves a Subject or throws AuthenticationError.
 * `socket` is the request's connection: over TLS it carries the verified client certificate (client-certificate.ts).
 */
export type Authenticate = (authorization: string | undefined, hasQueryToken: boolean, socket?: Socket) => Promise<Subject>;

export interface AuthenticatorOptions {
  auth: AuthConfig;
  /** dev mode supplies its generated key set here. */
  keySet?: JWTVerifyGetKey;
  issuer?: string;
}

export function createAuthenticator(opts: AuthenticatorOptions): Authenticate {
  const { auth } = opts;
  if (auth.mode === 'none') {
    return async function authenticateAnonymous() {
      return ANONYMOUS;
    };
  }
  const keySet = opts.keySet ?? loadKeySet(auth);
  const issuer = opts.issuer ?? auth.issuer;
  const audience = auth.audience;
  if (!issuer || !audience) throw new Error('auth: issuer and audience are required for jwt mode');
  const required = auth.requiredScopes;
  const cache = new VerifiedTokenCache();

  return async function authenticate(authorization, hasQueryToken) {
    // MCP authorization: the token MUST travel in the Authorization header, never in the query string.
    if (hasQueryToken) throw new AuthenticationError(401, 'invalid_request', 'access tokens in the query string are not accepted');
    if (!authorization) throw new AuthenticationError(401, null, 'missing bearer token');
    const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
    if (!m?.[1]) throw new AuthenticationError(401, 'invalid_request', 'malformed Authorization header');
    const cached = cache.get(m[1]);
    if (cached) return cached;
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(m[1], keySet, {
        issuer,
        audience,
        algorithms: auth.algorithms,
        clockTolerance: auth.clockToleranceSeconds,
        requiredClaims: ['sub', 'exp'],
      });
      claims = verified.payload as Record<string, unknown>;
    } catch (err) {
      throw new AuthenticationError(401, 'invalid_token', describeJoseError(err));
    }
    const subject = subjectFromClaims(claims, auth.rolesClaim, auth.groupsClaim);
    const missing = required.filter((s) => !subject.scopes.includes(s));
    if (missing.length > 0) throw new AuthenticationError(403, 'insufficient_scope', `token lacks required scope: ${missing.join(' ')}`);
    cache.set(m[1], subject, claims.exp as number);
    return subject;
  };
}

/**
 * Verified tokens, so the signature check (the costliest step of a call) runs once per token and not once per
 * request. Keyed by a hash, so raw tokens do not linger in memory; an entry lives until the token's exp or one
 * minute, whichever is first, so a key rotated out of a JWKS URL stops being honoured within a minute.
 */
class VerifiedTokenCache {
  private readonly entries = new Map<string, { subject: Subject; until: number }>();
  private static readonly MAX_ENTRIES = 10_000;
  private static readonly MAX_AGE_MS = 60_000;

  private static key(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(token: string): Subject | undefined {
    const k = VerifiedTokenCache.key(token);
    const e = this.entries.get(k);
    if (!e) return undefined;
    if (Date.now() >= e.until) {
      this.entries.delete(k);
      return undefined;
    }
    return e.subject;
  }

  set(token: string, subject: Subject, exp: number): void {
    if (this.entries.size >= VerifiedTokenCache.MAX_ENTRIES) {
      // Drop the oldest tenth: Map iteration is insertion order.
      let n = VerifiedTokenCache.MAX_ENTRIES / 10;
      for (const k of this.entries.keys()) {
        this.entries.delete(k);
        if (--n <= 0) break;
      }
    }
    const until = Math.min(exp * 1000, Date.now() + VerifiedTokenCache.MAX_AGE_MS);
    this.entries.set(VerifiedTokenCache.key(token), { subject, until });
  }
}

function loadKeySet(auth: AuthConfig): JWTVerifyGetKey {
  if (auth.jwks?.file) {
    const jwks = JSON.parse(readFileSync(auth.jwks.file, 'utf8')) as Parameters<typeof createLocalJWKSet>[0];
    return createLocalJWKSet(jwks);
  }
  if (auth.jwks?.url) return createRemoteJWKSet(new URL(auth.jwks.url), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  throw new Error('auth.jwks: file or url is required');
}

// Readable reasons for the client, without echoing token contents.
function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim check failed: ${err.claim}`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key matches the token';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return 'verification keys unavailable';
  if (err instanceof joseErrors.JOSEError) return 'invalid token';
  return 'invalid token';
}
