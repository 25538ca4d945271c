/**
 * The gateway's Vault session, on node-vault: logs in (AppRole or token), keeps its own token alive, logs in again
 * when Vault no longer accepts it, and reads, renews and revokes for the credential cache. Every failure comes out
 * as a VaultRequestError whose message is safe to log: no token, no secret, no request object.
 */
import { readFileSync } from 'node:fs';
import NodeVault from 'node-vault';
import type { VaultConfig } from '../config/index.js';
import type { Logger } from '../telemetry/logger.js';
import { shortId } from './lease-label.js';

export type VaultFailure = 'unreachable' | 'denied' | 'not_found' | 'refused' | 'unavailable';

export class VaultRequestError extends Error {
  override name = 'VaultRequestError';
  constructor(
    readonly kind: VaultFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * The life of the Vault token a secret was read with. Vault revokes a token's leases when the token ends, so a
 * lease cannot outlive it: `superseded` is set once the gateway has logged in again (the old token then only
 * runs out), and `expiresAt` becomes now when Vault refused the token (its leases are gone already).
 */
export interface TokenLife {
  /** ms since epoch; null for a token without expiry (e.g. a root token). */
  expiresAt: number | null;
  superseded: boolean;
}

/** One read: a leased secret (lease id, TTL) or a plain one (lease id empty, TTL 0). */
export interface VaultSecret {
  leaseId: string;
  leaseDuration: number;
  renewable: boolean;
  data: Record<string, unknown>;
  token: TokenLife;
}

export interface VaultClient {
  read(path: string): Promise<VaultSecret>;
  /** A write whose answer carries data, e.g. <pki>/issue/<role>; the data is returned as is (callers keep secrets out of logs). */
  write(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Renews a lease; the answer is the TTL Vault granted, which may be less than asked (max TTL). */
  renew(leaseId: string, incrementSeconds: number): Promise<{ ttl: number; renewable: boolean }>;
  revoke(leaseId: string): Promise<void>;
  /** Logs in in the background; a Vault that is down now is retried on first use. */
  start(): void;
  /** Stops renewing; an AppRole token, which the gateway created, is revoked. */
  stop(): Promise<void>;
  status(): 'not_ready' | 'ok' | 'error';
}

interface TokenState extends TokenLife {
  token: string;
  ttl: number;
  renewable: boolean;
  accessor: string;
}

// After a 403, log in again at most this often: a policy that denies a path must not turn every call into a login.
const RELOGIN_MIN_INTERVAL_MS = 2000;

export function createVaultClient(cfg: VaultConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): VaultClient {
  const address = cfg.address ?? env.VAULT_ADDR ?? env.BAO_ADDR;
  if (!address) throw new Error('vault.address is not set and VAULT_ADDR is empty');
  const auth = cfg.auth;
  if (auth.method === 'approle') {
    if (auth.roleIdEnv && !env[auth.roleIdEnv]) throw new Error(`vault.auth.roleIdEnv: ${auth.roleIdEnv} is not set`);
    if (auth.secretIdEnv && !env[auth.secretIdEnv]) throw new Error(`vault.auth.secretIdEnv: ${auth.secretIdEnv} is not set`);
  } else if (!auth.tokenFile && !env[auth.tokenEnv]) {
    throw new Error(`vault.auth: no token (set tokenFile, or ${auth.tokenEnv} in the environment)`);
  }
  const caFile = cfg.caFile ?? env.VAULT_CACERT;
  const requestOptions: Record<string, unknown> = { timeout: cfg.requestTimeoutMs };
  if (caFile) requestOptions.ca = readFileSync(caFile);
  const vault = NodeVault({
    endpoint: address,
    namespace: cfg.namespace ?? env.VAULT_NAMESPACE,
    // Never the ambient VAULT_TOKEN: with AppRole the token is ours alone, with the token method it comes from login().
    token: '',
    requestOptions,
    // node-vault's DEBUG=node-vault output prints request bodies, AppRole secret ids included: never enabled here.
    debug: () => undefined,
  });
  const renewFraction = cfg.leases.renewFraction;

  let state: TokenState | null = null;
  let loggingIn: Promise<TokenState> | null = null;
  let lastLogin = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastError: string | null = null;
  let stopped = false;

  const secretFrom = (file: string | undefined, envName: string | undefined, literal?: string): string => {
    if (literal) return literal;
    if (file) return readFileSync(file, 'utf8').trim();
    return (envName && env[envName]) || '';
  };

  function schedule(delayMs: number, fn: () => void): void {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(fn, Math.max(0, delayMs));
    timer.unref();
  }

  /** Seconds of token life that a login or renewal should not run into. */
  const marginMs = (ttl: number) => Math.min(30, ttl / 3) * 1000;

  async function doLogin(): Promise<TokenState> {
    vault.token = '';
    let s: TokenState;
    if (auth.method === 'approle') {
      const roleId = secretFrom(auth.roleIdFile, auth.roleIdEnv, auth.roleId);
      const secretId = secretFrom(auth.secretIdFile, auth.secretIdEnv);
      const r = await call(() => vault.approleLogin({ mount_point: auth.mount, role_id: roleId, secret_id: secretId }));
      const a = (r as { auth?: { client_token?: string; lease_duration?: number; renewable?: boolean; accessor?: string } }).auth;
      if (!a?.client_token) throw new VaultRequestError('refused', 'vault login returned no token');
      const ttl = a.lease_duration ?? 0;
      s = { token: a.client_token, superseded: false, ttl, renewable: a.renewable === true, accessor: a.accessor ?? '', expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : null };
    } else {
      const token = secretFrom(auth.tokenFile, auth.tokenEnv);
      if (!token) throw new VaultRequestError('refused', 'no Vault token available');
      vault.token = token;
      const r = (await call(() => vault.tokenLookupSelf())) as { data?: { ttl?: number; renewable?: boolean; accessor?: string } };
      const ttl = r.data?.ttl ?? 0;
      s = { token, superseded: false, ttl, renewable: r.data?.renewable === true, accessor: r.data?.accessor ?? '', expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : null };
    }
    vault.token = s.token;
    if (state) state.superseded = true;
    state = s;
    lastLogin = Date.now();
    lastError = null;
    log.info('vault login', { method: auth.method, accessor: shortId(s.accessor), ttlSeconds: s.ttl, renewable: s.renewable });
    planTokenUpkeep(s);
    return s;
  }

  function login(): Promise<TokenState> {
    loggingIn ??= doLogin().finally(() => {
      loggingIn = null;
    });
    return loggingIn;
  }

  /** Renew at renewFraction of the TTL; when renewal can no longer extend the token, log in afresh before it ends. */
  function planTokenUpkeep(s: TokenState): void {
    if (s.expiresAt === null) return;
    const left = s.expiresAt - Date.now();
    if (s.renewable) schedule(left * renewFraction, () => void renewToken(s));
    else schedule(left - marginMs(s.ttl), () => void relogin(s, 'token not renewable'));
  }

  async function renewToken(s: TokenState): Promise<void> {
    if (state !== s || stopped) return;
    try {
      const r = (await call(() => vault.tokenRenewSelf())) as { auth?: { lease_duration?: number; renewable?: boolean; client_token?: string } };
      const ttl = r.auth?.lease_duration ?? 0;
      s.expiresAt = Date.now() + ttl * 1000;
      s.renewable = r.auth?.renewable !== false;
      log.info('vault token renewed', { accessor: shortId(s.accessor), ttlSeconds: ttl });
      // Vault caps a renewal at the token's max TTL: a shorter grant than the first one means the end is near.
      if (ttl < s.ttl - 1 && auth.method === 'approle') schedule(s.expiresAt - Date.now() - marginMs(s.ttl), () => void relogin(s, 'token reached its max TTL'));
      else planTokenUpkeep(s);
    } catch (err) {
      const e = err as VaultRequestError;
      if (e.kind === 'denied' || e.kind === 'refused') {
        s.expiresAt = Date.now();
        return relogin(s, `token renewal refused (${e.message})`);
      }
      // Vault unreachable: try again soon, while the token still has time left.
      log.warn('vault token renewal failed; retrying', { error: e.message });
      schedule(Math.min(5000, Math.max(500, ((s.expiresAt ?? Date.now()) - Date.now()) / 4)), () => void renewToken(s));
    }
  }

  async function relogin(s: TokenState, why: string): Promise<void> {
    if (state !== s || stopped) return;
    if (auth.method === 'token' && !auth.tokenFile) {
      log.warn('vault token cannot be renewed further and there is no token file to re-read', { why });
      return;
    }
    log.info('vault login again', { why });
    try {
      await login();
    } catch (err) {
      lastError = (err as Error).message;
      log.warn('vault login failed; the next call that needs a credential retries', { error: lastError });
    }
  }

  async function ensureToken(): Promise<TokenState> {
    const s = state;
    // A token within its margin is replaced before use: anything leased with it would end with it.
    if (s && (s.expiresAt === null || Date.now() < s.expiresAt - marginMs(s.ttl) || (auth.method === 'token' && !auth.tokenFile))) return s;
    return login();
  }

  /** Runs a request with a valid token; a 403 (token revoked, or a restarted Vault) gets one fresh login and one retry. */
  async function withToken<T>(fn: () => Promise<T>): Promise<T> {
    const s = await ensureToken();
    try {
      return await call(fn);
    } catch (err) {
      if (!(err instanceof VaultRequestError) || err.kind !== 'denied') throw err;
      if (state === s) {
        if (Date.now() - lastLogin < RELOGIN_MIN_INTERVAL_MS) throw err;
        // A refused token's leases are revoked with it (or lost with a restarted Vault): mark them ended now.
        s.expiresAt = Date.now();
        log.info('vault refused the token; logging in again', { accessor: shortId(s.accessor) });
        await login();
      }
      return call(fn);
    }
  }

  return {
    async read(path) {
      try {
        const r = (await withToken(() => vault.read(path))) as { lease_id?: string; lease_duration?: number; renewable?: boolean; data?: Record<string, unknown> };
        const token: TokenLife = state ?? { expiresAt: Date.now(), superseded: true };
        return { leaseId: r.lease_id ?? '', leaseDuration: r.lease_duration ?? 0, renewable: r.renewable === true, data: r.data ?? {}, token };
      } catch (err) {
        lastError = (err as Error).message;
        throw err;
      }
    },
    async write(path, body) {
      try {
        const r = (await withToken(() => vault.write(path, body))) as { data?: Record<string, unknown> };
        return r.data ?? {};
      } catch (err) {
        lastError = (err as Error).message;
        throw err;
      }
    },
    async renew(leaseId, incrementSeconds) {
      const r = (await withToken(() => vault.renew({ lease_id: leaseId, increment: Math.round(incrementSeconds) }))) as { lease_duration?: number; renewable?: boolean };
      return { ttl: r.lease_duration ?? 0, renewable: r.renewable === true };
    },
    async revoke(leaseId) {
      await withToken(() => vault.revoke({ lease_id: leaseId }));
    },
    start() {
      stopped = false;
      login().catch((err: Error) => {
        lastError = err.message;
        log.warn('vault login failed at start; calls that need a credential will retry', { address, error: err.message });
      });
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // The AppRole token is the gateway's own: revoking it also ends any lease a crash might have left behind.
      if (auth.method === 'approle' && state) {
        await call(() => vault.tokenRevokeSelf()).catch((err: Error) => log.warn('vault token revocation failed', { error: err.message }));
        log.info('vault token revoked', { accessor: shortId(state.accessor) });
      }
      state = null;
      vault.token = '';
    },
    status() {
      if (state) return 'ok';
      return lastError ? 'error' : 'not_ready';
    },
  };
}

/** Awaits a node-vault call and turns whatever it throws into a VaultRequestError that carries no request detail. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toVaultError(err);
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

export function toVaultError(err: unknown): VaultRequestError {
  if (err instanceof VaultRequestError) return err;
  const e = err as { response?: { statusCode?: number; body?: { errors?: unknown[] } }; code?: string; message?: string };
  const status = e.response?.statusCode;
  if (typeof status === 'number') {
    // Vault's own error text (e.g. "permission denied"), first line only: it names paths, never secrets.
    const first = e.response?.body?.errors?.[0];
    const text = (typeof first === 'string' ? first : `HTTP ${status}`).split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200) ?? `HTTP ${status}`;
    const kind: VaultFailure = status === 403 ? 'denied' : status === 404 ? 'not_found' : status === 429 || status >= 500 ? 'unavailable' : 'refused';
    return new VaultRequestError(kind, `vault ${kind.replace('_', ' ')} (${status}): ${text}`, status);
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code && (NETWORK_CODES.has(code) || /timeout/i.test(e.message ?? ''))) return new VaultRequestError('unreachable', `vault unreachable (${code})`);
  // Anything else (a malformed answer, a TLS failure): the class of error only, as its message may quote a request.
  return new VaultRequestError('unreachable', `vault request failed (${code ?? (err as Error)?.name ?? 'error'})`);
}
