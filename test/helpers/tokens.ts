/** A per-run RS256 issuer for tests: key pair, JWKS file for the gateway, and token minting with jose. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type CryptoKey } from 'jose';

export interface MintOptions {
  /** Seconds from now; negative for an already expired token. Default 600. */
  expiresIn?: number;
  /** Seconds from now for nbf. */
  notBefore?: number;
  audience?: string | string[];
  issuer?: string;
  kid?: string;
  /** Sign with another key (e.g. one the gateway does not know). */
  privateKey?: CryptoKey;
}

export interface TokenIssuer {
  issuer: string;
  audience: string;
  kid: string;
  jwksFile: string;
  publicKeyPem: string;
  mint(claims: JWTPayload & { sub: string; roles?: string[]; scope?: string }, opts?: MintOptions): Promise<string>;
  /** A second RS256 key that is not in the JWKS. */
  foreignKey(): Promise<CryptoKey>;
  /** The `auth` section for the gateway config. */
  authConfig(extra?: Record<string, unknown>): Record<string, unknown>;
}

export async function createIssuer(dir: string, issuer = 'https://idp.test.example', audience = 'https://portcullis.test.example/mcp'): Promise<TokenIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = 'test-key-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const publicKeyPem = await exportSPKI(publicKey);
  return {
    issuer,
    audience,
    kid,
    jwksFile,
    publicKeyPem,
    async mint(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const { sub, ...rest } = claims;
      const payload: JWTPayload = { scope: 'mcp', ...rest };
      const jwt = new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? kid, typ: 'JWT' })
        .setIssuer(opts.issuer ?? issuer)
        .setSubject(sub)
        .setAudience(opts.audience ?? audience)
        .setIssuedAt(now)
        .setJti(crypto.randomUUID())
        .setExpirationTime(now + (opts.expiresIn ?? 600));
      if (opts.notBefore !== undefined) jwt.setNotBefore(now + opts.notBefore);
      return jwt.sign(opts.privateKey ?? privateKey);
    },
    async foreignKey() {
      return (await generateKeyPair('RS256')).privateKey;
    },
    authConfig(extra = {}) {
      return { mode: 'jwt', issuer, audience, jwks: { file: jwksFile }, ...extra };
    },
  };
}

/** base64url of a JSON value or string. */
export function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}
