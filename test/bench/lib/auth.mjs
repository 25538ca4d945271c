// A throw-away RS256 key: the JWKS file the gateway verifies against, and one token for the benchmark subject.
import { writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export const BENCH_ISSUER = 'https://idp.bench.invalid';
export const BENCH_AUDIENCE = 'portcullis-bench';

/** Writes `jwksFile` and returns a bearer token with roles [engineer] valid for `ttlSeconds`. */
export async function makeJwt(jwksFile, { roles = ['engineer'], ttlSeconds = 4 * 3600 } = {}) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = 'bench-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }, null, 2));
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles, scope: 'mcp', client_id: 'portcullis-bench' })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setIssuer(BENCH_ISSUER)
    .setAudience(BENCH_AUDIENCE)
    .setSubject('bench-user')
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(privateKey);
}

/** The gateway config document (before buildConfig / as written to a YAML-compatible JSON file). */
export function gatewayConfig({ bundle, jwksFile, auditFile, servers, port = 0, sessionsMax = 10_000 }) {
  return {
    listen: { host: '127.0.0.1', port },
    // One bench identity holds every session (the heap figure opens 1,000 of them), so the per-principal cap
    // (default 100) must not be what the bench measures.
    sessions: { max: sessionsMax, maxPerPrincipal: sessionsMax },
    auth: {
      mode: 'jwt',
      issuer: BENCH_ISSUER,
      audience: BENCH_AUDIENCE,
      jwks: { file: jwksFile },
      algorithms: ['RS256'],
    },
    policy: { bundle },
    servers,
    audit: { file: auditFile },
    log: { level: 'warn' },
    shutdown: { graceSeconds: 2 },
  };
}
