/** dev mode only: an ephemeral signing key made at start, and example tokens for the configured identities. */
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { DevIdentity } from '../config/index.js';

export const DEV_ISSUER = 'urn:portcullis:dev';

export interface DevKeys {
  keySet: JWTVerifyGetKey;
  mint(identity: DevIdentity, audience: string, ttlSeconds: number): Promise<string>;
}

export async function createDevKeys(): Promise<DevKeys> {
  // Never persisted: tokens die with the process, so a leaked quickstart token is useless elsewhere.
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'portcullis-dev', alg: 'ES256', use: 'sig' };
  return {
    keySet: createLocalJWKSet({ keys: [jwk] }),
    mint(identity, audience, ttlSeconds) {
      return new SignJWT({ roles: identity.roles ?? [], groups: identity.groups ?? [], scope: identity.scope ?? 'mcp' })
        .setProtectedHeader({ alg: 'ES256', kid: 'portcullis-dev', typ: 'JWT' })
        .setIssuer(DEV_ISSUER)
        .setSubject(identity.sub)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .setJti(crypto.randomUUID())
        .sign(privateKey);
    },
  };
}
