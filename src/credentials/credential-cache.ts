/**
 * The lease cache: one live credential per (profile, upstream), renewed while Vault extends it, replaced ahead of
 * its end, and revoked once nothing needs it (replaced, idle, upstream removed, shutdown).
 *
 * Timeline of a lease granted for T seconds, margin m = min(safetyMarginSeconds, T/3):
 *   renew at renewFraction of what is left, asking for T again, and read the TTL Vault actually granted (C22: the
 *   increment is advisory). A grant shorter than T means max TTL is near: no more renewals, and a replacement is
 *   leased at end - 2m. A call is never handed a credential with less than m left; it waits for a fresh one.
 *   A replaced lease is revoked m later (calls that just received it may still be connecting), or at its end.
 */
import type { CredentialProfileConfig, VaultConfig } from '../config/index.js';
import type { Logger } from '../telemetry/logger.js';
import { endOf, fetchCredential, type Credential } from './secret-source.js';
import { VaultRequestError, type VaultClient } from './vault-client.js';

export interface CacheOptions {
  vault: VaultClient;
  leases: VaultConfig['leases'];
  log: Logger;
  /** A pinned slot's credential was replaced (a STDIO process must be restarted with the new one). */
  onReplaced?: (serverId: string, profile: string) => void;
}

interface Slot {
  readonly profile: string;
  readonly config: CredentialProfileConfig;
  readonly serverId: string;
  current?: Credential;
  fetching?: Promise<Credential>;
  lastUsed: number;
  timer?: NodeJS.Timeout;
  /** Held by a running process (STDIO env): never dropped for idleness. */
  pinned: boolean;
}

// While Vault is unreachable, renewal and replacement are retried this often (or sooner, if the lease ends sooner).
const RETRY_MS = 5000;
const MIN_RETRY_MS = 500;
const MIN_TICK_MS = 100;

export class CredentialCache {
  private readonly slots = new Map<string, Slot>();
  private readonly retiring = new Map<Credential, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: CacheOptions) {}

  /** A credential with at least the safety margin left, leasing a new one when needed. Throws VaultRequestError. */
  async acquire(profile: string, config: CredentialProfileConfig, serverId: string, pin = false): Promise<Credential> {
    if (this.closed) throw new VaultRequestError('unavailable', 'gateway is shutting down');
    const key = `${profile}\u0000${serverId}`;
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { profile, config, serverId, lastUsed: 0, pinned: pin };
      this.slots.set(key, slot);
    }
    slot.pinned ||= pin;
    slot.lastUsed = Date.now();
    const c = slot.current;
    if (c && this.usable(c)) return c;
    return this.refresh(slot);
  }

  /** Seconds of life a credential must still have to be handed to a call. */
  private marginMs(c: Credential): number {
    if (!c.leaseId) return 0;
    return Math.min(this.opts.leases.safetyMarginSeconds, c.ttl / 3) * 1000;
  }

  private usable(c: Credential): boolean {
    return Date.now() < endOf(c) - this.marginMs(c);
  }

  private refresh(slot: Slot): Promise<Credential> {
    slot.fetching ??= (async () => {
      const fresh = await fetchCredential(this.opts.vault, slot.config);
      // Only possible when the token it was leased with ends within the margin and no new login was possible.
      if (!this.usable(fresh)) {
        this.retire(fresh, 0);
        throw new VaultRequestError('unavailable', 'the credential Vault issued ends within the safety margin (is the Vault token about to expire?)');
      }
      const old = slot.current;
      slot.current = fresh;
      const ctx = { server: slot.serverId, profile: slot.profile };
      if (fresh.leaseId) {
        this.opts.log.info('lease obtained', { ...ctx, lease: fresh.label, ttlSeconds: fresh.ttl, renewable: fresh.renewable, replaces: old?.label });
      } else if (old?.version !== fresh.version || !old) {
        this.opts.log.info('secret read', { ...ctx, path: slot.config.path, version: fresh.version, previousVersion: old?.version, cacheSeconds: slot.config.cacheSeconds });
      }
      if (old) this.retire(old);
      this.plan(slot);
      if (old && slot.pinned && identity(old) !== identity(fresh)) this.opts.onReplaced?.(slot.serverId, slot.profile);
      return fresh;
    })().finally(() => {
      slot.fetching = undefined;
    });
    return slot.fetching;
  }

  /** Schedules the next renewal or the replacement of a leased credential. */
  private plan(slot: Slot, delayMs?: number): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const c = slot.current;
    if (!c || !c.leaseId || this.closed) return;
    const left = endOf(c) - Date.now();
    const at = delayMs ?? (c.renewable && !c.final ? left * this.opts.leases.renewFraction : left - 2 * this.marginMs(c));
    // Never a tight loop: however little is left, the next look is a moment away.
    slot.timer = setTimeout(() => void this.tick(slot, c), Math.max(MIN_TICK_MS, at));
    slot.timer.unref();
  }

  private async tick(slot: Slot, c: Credential): Promise<void> {
    if (slot.current !== c || this.closed) return;
    const ctx = { server: slot.serverId, profile: slot.profile, lease: c.label };
    const idleMs = Date.now() - slot.lastUsed;
    if (!slot.pinned && idleMs > this.opts.leases.idleSeconds * 1000) {
      this.opts.log.info('lease idle; revoking', { ...ctx, idleSeconds: Math.round(idleMs / 1000) });
      this.drop(slot);
      return;
    }
    // Leased under a token the gateway has since replaced: that token's end is this lease's end, so renewing is
    // pointless; lease anew under the current token.
    if (c.token?.superseded) c.final = true;
    if (c.renewable && !c.final) {
      try {
        const r = await this.opts.vault.renew(c.leaseId, c.ttl);
        c.expiresAt = Date.now() + r.ttl * 1000;
        c.renewable = r.renewable;
        c.final = !r.renewable || r.ttl < c.ttl - 1;
        this.opts.log.info('lease renewed', { ...ctx, ttlSeconds: r.ttl, final: c.final });
        this.plan(slot);
      } catch (err) {
        const e = err as VaultRequestError;
        if (e.kind === 'unreachable' || e.kind === 'unavailable') {
          this.opts.log.warn('lease renewal failed; retrying', { ...ctx, error: e.message, secondsLeft: Math.round((c.expiresAt - Date.now()) / 1000) });
          if (this.usable(c)) this.plan(slot, retryDelay(c, this.marginMs(c)));
        } else {
          // Refused (e.g. a restarted Vault that no longer knows the lease): no point asking again; replace it.
          this.opts.log.warn('lease renewal refused; replacing', { ...ctx, error: e.message });
          c.final = true;
          this.plan(slot, 0);
        }
      }
      return;
    }
    try {
      await this.refresh(slot);
    } catch (err) {
      this.opts.log.warn('lease replacement failed; retrying', { ...ctx, error: (err as Error).message });
      if (slot.current === c && this.usable(c)) this.plan(slot, retryDelay(c, this.marginMs(c)));
    }
  }

  /** Revokes a replaced credential after the margin (or at its end, whichever is first). */
  private retire(c: Credential, delayMs = Math.min(this.marginMs(c), endOf(c) - Date.now())): void {
    if (!c.leaseId || this.retiring.has(c)) return;
    const t = setTimeout(() => void this.revoke(c, 'replaced'), Math.max(0, delayMs));
    t.unref();
    this.retiring.set(c, t);
  }

  private async revoke(c: Credential, why: string): Promise<boolean> {
    clearTimeout(this.retiring.get(c));
    this.retiring.delete(c);
    try {
      await this.opts.vault.revoke(c.leaseId);
      this.opts.log.info('lease revoked', { lease: c.label, why });
      return true;
    } catch (err) {
      this.opts.log.warn('lease revocation failed; Vault ends it at its TTL', { lease: c.label, why, error: (err as Error).message });
      return false;
    }
  }

  private drop(slot: Slot): void {
    clearTimeout(slot.timer);
    this.slots.delete(`${slot.profile}\u0000${slot.serverId}`);
    const c = slot.current;
    slot.current = undefined;
    if (c?.leaseId) void this.revoke(c, 'no longer needed');
  }

  /** The upstream is gone: its credentials go with it. */
  async forgetServer(serverId: string): Promise<void> {
    const mine = [...this.slots.values()].filter((s) => s.serverId === serverId);
    await Promise.all(
      mine.map(async (s) => {
        clearTimeout(s.timer);
        this.slots.delete(`${s.profile}\u0000${s.serverId}`);
        if (s.current?.leaseId) await this.revoke(s.current, 'upstream removed');
      }),
    );
  }

  /** Shutdown: every lease the gateway holds, live or being retired, is revoked now. */
  async revokeAll(): Promise<{ revoked: number; failed: number }> {
    this.closed = true;
    const all = new Set<Credential>(this.retiring.keys());
    for (const s of this.slots.values()) {
      clearTimeout(s.timer);
      if (s.current?.leaseId) all.add(s.current);
      // A lease still being obtained is revoked too, once it arrives.
      if (s.fetching) {
        const c = await s.fetching.catch(() => undefined);
        if (c?.leaseId) all.add(c);
      }
    }
    this.slots.clear();
    const results = await Promise.all([...all].map((c) => this.revoke(c, 'shutdown')));
    const revoked = results.filter(Boolean).length;
    return { revoked, failed: results.length - revoked };
  }

  /** Leases held right now (live and being retired), for status and tests. */
  get size(): number {
    let n = this.retiring.size;
    for (const s of this.slots.values()) if (s.current?.leaseId) n++;
    return n;
  }
}

/** Half the usable time left, within [MIN_RETRY_MS, RETRY_MS]. */
function retryDelay(c: Credential, marginMs: number): number {
  return Math.min(RETRY_MS, Math.max(MIN_RETRY_MS, (endOf(c) - marginMs - Date.now()) / 2));
}

/** What makes two credentials different for a process that holds one: the lease, or the KV version. */
export function identity(c: Credential | undefined): string {
  if (!c) return '';
  return c.leaseId || `${c.label}#${c.version ?? ''}#${JSON.stringify(c.values)}`;
}
