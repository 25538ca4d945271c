/**
 * Reading one credential from Vault for a profile: a dynamic, leased secret (database/creds/<role> and the like)
 * or a KV v2 secret with its version. The result is flat string fields, which is what templates consume.
 */
import type { CredentialProfileConfig } from '../config/index.js';
import { leaseLabel } from './lease-label.js';
import { VaultRequestError, type TokenLife, type VaultClient } from './vault-client.js';

export interface Credential {
  readonly values: Readonly<Record<string, string>>;
  /** Empty for a secret without a lease (KV). */
  readonly leaseId: string;
  /** The lease id as logs may show it. */
  readonly label: string;
  /** Seconds granted at first: the renewal increment, and the scale of the safety margin. */
  readonly ttl: number;
  /** ms since epoch: the lease's end, or for KV the end of the cache period. */
  expiresAt: number;
  renewable: boolean;
  /** Renewal can extend it no further (max TTL reached, or refused): it is replaced before it ends. */
  final: boolean;
  /** KV v2 version. */
  readonly version?: number;
  /** The token it was leased with: the lease ends with it at the latest. */
  readonly token?: TokenLife;
}

/** When a credential really ends: its own end, or its token's, whichever is first. */
export function endOf(c: Credential): number {
  const t = c.leaseId ? c.token?.expiresAt : null;
  return t === null || t === undefined ? c.expiresAt : Math.min(c.expiresAt, t);
}

export async function fetchCredential(vault: VaultClient, profile: CredentialProfileConfig): Promise<Credential> {
  const secret = await vault.read(profile.path);
  const now = Date.now();
  if (profile.source === 'kv-v2') {
    const data = secret.data.data;
    const meta = (secret.data.metadata ?? {}) as { version?: number };
    // A deleted latest version reads as data: null; that is "no credential", not an empty one.
    if (!data || typeof data !== 'object') throw new VaultRequestError('not_found', `vault has no current version of ${profile.path}`);
    return {
      values: flatten(data as Record<string, unknown>),
      leaseId: '',
      label: `${profile.path}@v${meta.version ?? '?'}`,
      ttl: profile.cacheSeconds,
      expiresAt: now + profile.cacheSeconds * 1000,
      renewable: false,
      final: true,
      version: meta.version,
    };
  }
  if (!secret.leaseId || secret.leaseDuration <= 0) {
    // A path without a lease (e.g. KV version 1) is cached like KV: it has no end that Vault enforces.
    return { values: flatten(secret.data), leaseId: '', label: profile.path, ttl: profile.cacheSeconds, expiresAt: now + profile.cacheSeconds * 1000, renewable: false, final: true };
  }
  return {
    values: flatten(secret.data),
    leaseId: secret.leaseId,
    label: leaseLabel(secret.leaseId),
    ttl: secret.leaseDuration,
    expiresAt: now + secret.leaseDuration * 1000,
    renewable: secret.renewable,
    final: !secret.renewable,
    token: secret.token,
  };
}

function flatten(data: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === null || v === undefined) continue;
    out[k] = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}
