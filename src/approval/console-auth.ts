/**
 * Reviewer sign-in for the console: an OpenID Connect relying party (authorization code with PKCE, state and
 * nonce) and the session that follows it, kept in an encrypted cookie with its own CSRF token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { createRemoteJWKSet, EncryptJWT, jwtDecrypt, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { subjectFromClaims, type Subject } from '../identity/index.js';
import type { Logger } from '../telemetry/logger.js';

export interface ConsoleAuthOptions {
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE alone). Present: client_secret_basic as well. */
  clientSecret?: string;
  scopes: string[];
  /** ID token algorithms accepted; the token header never chooses. */
  algorithms: string[];
  rolesClaim: string;
  groupsClaim: string;
  sessionTtlSeconds: number;
  /** Key material shared by every replica, so a session made on one is good on all; random per process if absent. */
  sessionKey?: string;
  /** Base URL reviewers use (https://… turns on Secure cookies); else derived from the request. */
  publicUrl?: string;
  log: Logger;
}

export interface ConsoleSession {
  subject: Subject;
  csrf: string;
  expiresAt: number;
}

export interface ConsoleAuth {
  login(req: Request, res: Response): Promise<void>;
  callback(req: Request, res: Response): Promise<void>;
  logout(req: Request, res: Response): void;
  /** The signed-in reviewer, or null (no cookie, expired, tampered). */
  session(req: Request): Promise<ConsoleSession | null>;
  /** Constant-time comparison of the request's X-CSRF-Token with the session's. */
  csrfOk(req: Request, session: ConsoleSession): boolean;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
}

// Claims a session keeps: who the reviewer is and what groups and roles they have; nothing else from the IdP.
const KEPT_CLAIMS = ['iss', 'sub', 'name', 'preferred_username', 'email'];
const LOGIN_TTL_SECONDS = 600;
const RETURN_PATH = /^\/console(?:\/approvals\/[A-Za-z0-9-]{1,64})?$/;

function b64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function errorPage(res: Response, status: number, message: string): void {
  res.status(status).type('html').send(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head><body><main><h1>Sign-in failed</h1><p>${escapeHtml(message)}</p><p><a href="/console">Back to the console</a></p></main></body></html>`,
  );
}

export function createConsoleAuth(opts: ConsoleAuthOptions): ConsoleAuth {
  if (!/^https?:\/\//.test(opts.issuer)) throw new Error('console auth: issuer must be an http(s) URL');
  if (!opts.clientId) throw new Error('console auth: clientId is required');
  if (!opts.scopes.includes('openid')) throw new Error('console auth: scopes must include openid');
  if (!(opts.sessionTtlSeconds > 0)) throw new Error('console auth: sessionTtlSeconds must be > 0');
  const { log } = opts;
  const issuer = opts.issuer.replace(/\/$/, '');
  const key = createHash('sha256').update(opts.sessionKey ?? randomBytes(32)).digest();
  const secureByConfig = opts.publicUrl?.startsWith('https://') ?? false;

  let discovery: Promise<{ doc: Discovery; jwks: JWTVerifyGetKey }> | null = null;
  function discover() {
    discovery ??= (async () => {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`discovery: HTTP ${res.status}`);
      const doc = (await res.json()) as Discovery;
      // OpenID Connect Discovery §4.3: the issuer in the document must be exactly the one configured.
      if (doc.issuer.replace(/\/$/, '') !== issuer) throw new Error(`discovery: issuer mismatch (${doc.issuer})`);
      return { doc, jwks: createRemoteJWKSet(new URL(doc.jwks_uri)) };
    })();
    discovery.catch(() => {
      discovery = null; // try again on the next sign-in
    });
    return discovery;
  }

  const secure = (req: Request) => secureByConfig || req.secure;
  // __Host- cookies must be Secure, Path=/ and carry no Domain: the browser then refuses them from any other origin.
  const cookieName = (req: Request, base: string) => (secure(req) ? `__Host-${base}` : base);
  const baseUrl = (req: Request) => opts.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`;
  const redirectUri = (req: Request) => `${baseUrl(req)}/console/callback`;

  function setCookie(req: Request, res: Response, base: string, value: string, maxAgeSeconds: number): void {
    // SameSite=Lax, not Strict: the sign-in ends with a top-level redirect from the IdP, which Strict would strip.
    const parts = [`${cookieName(req, base)}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAgeSeconds}`];
    if (secure(req)) parts.push('Secure');
    res.append('Set-Cookie', parts.join('; '));
  }

  async function seal(payload: Record<string, unknown>, ttlSeconds: number): Promise<string> {
    return new EncryptJWT(payload)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .encrypt(key);
  }

  async function unseal(token: string | undefined): Promise<Record<string, unknown> | null> {
    if (!token) return null;
    try {
      const { payload } = await jwtDecrypt(token, key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return payload as Record<string, unknown>;
    } catch {
      return null;
    }
  }

  return {
    async login(req, res) {
      let d: Discovery;
      try {
        d = (await discover()).doc;
      } catch (err) {
        log.error('console sign-in: issuer unreachable', { issuer, error: (err as Error).message });
        return errorPage(res, 502, 'The identity provider cannot be reached right now. Try again shortly.');
      }
      const state = b64url(randomBytes(24));
      const nonce = b64url(randomBytes(24));
      const verifier = b64url(randomBytes(48));
      const challenge = b64url(createHash('sha256').update(verifier).digest());
      const ret = typeof req.query.return === 'string' && RETURN_PATH.test(req.query.return) ? req.query.return : '/console';
      setCookie(req, res, 'portcullis-login', await seal({ state, nonce, verifier, ret }, LOGIN_TTL_SECONDS), LOGIN_TTL_SECONDS);
      const u = new URL(d.authorization_endpoint);
      u.search = new URLSearchParams({
        response_type: 'code',
        client_id: opts.clientId,
        redirect_uri: redirectUri(req),
        scope: opts.scopes.join(' '),
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString();
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, u.toString());
    },

    async callback(req, res) {
      res.setHeader('Cache-Control', 'no-store');
      const cookies = parseCookies(req.headers.cookie);
      const login = await unseal(cookies[cookieName(req, 'portcullis-login')]);
      setCookie(req, res, 'portcullis-login', '', 0);
      if (typeof req.query.error === 'string') {
        return errorPage(res, 400, `The identity provider said: ${req.query.error}${typeof req.query.error_description === 'string' ? ` (${req.query.error_description})` : ''}`);
      }
      const state = req.query.state;
      const code = req.query.code;
      if (!login || typeof state !== 'string' || typeof code !== 'string' || typeof login.state !== 'string') {
        return errorPage(res, 400, 'This sign-in link is stale or was not started here. Start again from the console.');
      }
      const a = Buffer.from(state);
      const b = Buffer.from(login.state);
      if (a.length !== b.length || !timingSafeEqual(a, b)) return errorPage(res, 400, 'Sign-in state does not match. Start again from the console.');

      let claims: Record<string, unknown>;
      try {
        const { doc, jwks } = await discover();
        const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri(req), code_verifier: String(login.verifier) });
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
        if (opts.clientSecret) {
          // RFC 6749 §2.3.1: id and secret are form-encoded before being joined for Basic.
          const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
          headers.authorization = `Basic ${Buffer.from(`${enc(opts.clientId)}:${enc(opts.clientSecret)}`).toString('base64')}`;
        } else {
          form.set('client_id', opts.clientId);
        }
        const tr = await fetch(doc.token_endpoint, { method: 'POST', headers, body: form, signal: AbortSignal.timeout(10_000) });
        const tokens = (await tr.json().catch(() => ({}))) as { id_token?: string; access_token?: string; error?: string };
        if (!tr.ok || !tokens.id_token) throw new Error(`token endpoint: HTTP ${tr.status} ${tokens.error ?? ''}`.trim());
        const v = await jwtVerify(tokens.id_token, jwks, { issuer: doc.issuer, audience: opts.clientId, algorithms: opts.algorithms, requiredClaims: ['sub', 'exp', 'iat'] });
        claims = v.payload as Record<string, unknown>;
        if (claims.nonce !== login.nonce) throw new Error('id_token nonce does not match');
        if (doc.userinfo_endpoint && tokens.access_token) {
          // Many providers put groups only in userinfo; it may add claims but never change who the subject is.
          const ui = await fetch(doc.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
          if (ui.ok) {
            const extra = (await ui.json()) as Record<string, unknown>;
            if (extra.sub === claims.sub) claims = { ...extra, ...claims, iss: claims.iss, sub: claims.sub };
          }
        }
      } catch (err) {
        log.warn('console sign-in failed', { error: (err as Error).message });
        return errorPage(res, 400, 'The identity provider did not confirm the sign-in. Start again from the console.');
      }
      const kept: Record<string, unknown> = {};
      for (const k of [...KEPT_CLAIMS, opts.groupsClaim, opts.rolesClaim]) if (claims[k] !== undefined) kept[k] = claims[k];
      const csrf = b64url(randomBytes(24));
      setCookie(req, res, 'portcullis-console', await seal({ c: kept, csrf }, opts.sessionTtlSeconds), opts.sessionTtlSeconds);
      log.info('console sign-in', { sub: kept.sub, iss: kept.iss });
      res.redirect(303, typeof login.ret === 'string' && RETURN_PATH.test(login.ret) ? login.ret : '/console');
    },

    logout(req, res) {
      setCookie(req, res, 'portcullis-console', '', 0);
    },

    async session(req) {
      const p = await unseal(parseCookies(req.headers.cookie)[cookieName(req, 'portcullis-console')]);
      if (!p || typeof p.csrf !== 'string' || typeof p.c !== 'object' || p.c === null) return null;
      return {
        subject: subjectFromClaims(p.c as Record<string, unknown>, opts.rolesClaim, opts.groupsClaim),
        csrf: p.csrf,
        expiresAt: Number(p.exp) * 1000,
      };
    },

    csrfOk(req, session) {
      const got = req.headers['x-csrf-token'];
      if (typeof got !== 'string') return false;
      const a = Buffer.from(got);
      const b = Buffer.from(session.csrf);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}
