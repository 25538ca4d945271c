/**
 * The credentials stage: which downstream credential a call carries, leased from Vault at the moment the call is
 * routed. The profile is the one the decision names, else the server's default; a profile the server does not
 * allow, an unknown one, or a Vault that cannot supply it fails the call closed (-32013): a call never goes out
 * unauthenticated, on a static fallback, or on a credential about to expire.
 */
import type { CatalogEntry } from '../catalog/index.js';
import type { CredentialProfileConfig, GatewayConfig } from '../config/index.js';
import { CredentialUnavailableError } from '../errors/index.js';
import type { Decision } from '../policy/index.js';
import type { Logger } from '../telemetry/logger.js';
import { CredentialCache, identity } from './credential-cache.js';
import type { Credential } from './secret-source.js';
import { compileTemplate, MissingFieldError, type Template } from '../config/template.js';
import { createVaultClient, type VaultClient } from './vault-client.js';

export interface Injection {
  /** Extra HTTP headers for an HTTP upstream. */
  headers?: Record<string, string>;
  /** What the audit may say about it: never the secret. */
  audit?: { profile: string; lease?: string };
  /**
   * The secret values this call's upstream received (the fields its templates used), for the redaction stage to
   * scrub from the result should the upstream echo them. Never logged, never audited.
   */
  secrets?: readonly string[];
}

/**
 * Credential fields that name who, not prove it: an upstream may legitimately report them (a database's
 * current_user), and scrubbing them from results would hide which leased identity did the work.
 */
const IDENTIFIER_FIELDS = new Set(['username', 'user', 'role', 'role_name']);

export type IssueCredentials = (entry: CatalogEntry, decision: Decision) => Promise<Injection>;

/** The part of an upstream that STDIO injection needs: env for the next spawn, and a restart onto fresh env. */
export interface RecyclableUpstream {
  readonly id: string;
  setEnvProvider(fn: () => Promise<Record<string, string>>): void;
  recycle(): Promise<void>;
}

export interface Credentials {
  issueCredentials: IssueCredentials;
  /** Gives a STDIO upstream with a credential profile its env at each spawn, and a fresh process on rotation. */
  attach(upstream: RecyclableUpstream): void;
  /** Logs in to Vault in the background (a Vault down now is retried on first use). */
  start(): void;
  /** Revokes every lease, then the gateway's own AppRole token. */
  stop(): Promise<void>;
  /** Revokes the leases held for an upstream that is no longer configured. */
  forgetServer(serverId: string): Promise<void>;
  status(): 'not_ready' | 'ok' | 'error' | 'disabled';
  /** Leases held right now, being retired included (metrics). */
  leaseCount(): number;
}

export interface CredentialsOptions {
  config: Pick<GatewayConfig, 'servers' | 'credentials' | 'vault'>;
  log: Logger;
  /** For tests; built from config.vault otherwise. */
  vault?: VaultClient;
}

interface Profile {
  name: string;
  config: CredentialProfileConfig;
  /** Header names lower-cased, so they replace rather than duplicate a static header of another case. */
  headers: Array<[string, Template]>;
  env: Array<[string, Template]>;
  /** The secret fields each injection reads. */
  headerFields: string[];
  envFields: string[];
}

const NONE: Injection = Object.freeze({});

export function createCredentials(opts: CredentialsOptions): Credentials {
  const { config, log } = opts;
  const profiles = new Map<string, Profile>();
  for (const [name, p] of Object.entries(config.credentials ?? {})) {
    const headers = Object.entries(p.headers ?? {}).map(([h, t]): [string, Template] => [h.toLowerCase(), compileTemplate(t)]);
    const env = Object.entries(p.env ?? {}).map(([e, t]): [string, Template] => [e, compileTemplate(t)]);
    const fieldsOf = (list: Array<[string, Template]>) => [...new Set(list.flatMap(([, t]) => t.fields))];
    profiles.set(name, { name, config: p, headers, env, headerFields: fieldsOf(headers), envFields: fieldsOf(env) });
  }
  const servers = new Map<string, { default?: string; allowed: Set<string> }>();
  for (const s of config.servers) {
    if (s.credentials) servers.set(s.id, { default: s.credentials.default, allowed: new Set(s.credentials.allowed ?? []) });
  }
  const enabled = profiles.size > 0;
  if (enabled && !config.vault && !opts.vault) throw new Error('credentials are configured but vault is not');
  const vault = enabled ? (opts.vault ?? createVaultClient(config.vault!, log)) : undefined;

  const upstreams = new Map<string, RecyclableUpstream>();
  /** The credential each running STDIO process was started with. */
  const spawnedWith = new Map<string, Credential>();
  const recycling = new Map<string, Promise<void>>();

  const cache = vault
    ? new CredentialCache({
        vault,
        leases: config.vault!.leases,
        log,
        onReplaced: (serverId) => {
          recycle(serverId).catch((err: Error) => log.warn('stdio upstream restart with a fresh credential failed', { server: serverId, error: err.message }));
        },
      })
    : undefined;

  function recycle(serverId: string): Promise<void> {
    const u = upstreams.get(serverId);
    if (!u) return Promise.resolve();
    let p = recycling.get(serverId);
    if (!p) {
      log.info('restarting stdio upstream with a fresh credential', { server: serverId });
      p = u.recycle().finally(() => recycling.delete(serverId));
      recycling.set(serverId, p);
    }
    return p;
  }

  /** Resolves the profile for a call, refusing what the server is not configured to receive. */
  function profileFor(serverId: string, decision: Decision): Profile | undefined {
    const sc = servers.get(serverId);
    const name = decision.credential ?? sc?.default;
    if (name === undefined) return undefined;
    const p = profiles.get(name);
    if (!p) throw new CredentialUnavailableError(serverId, new Error(`no credential profile named '${name}' is configured`));
    if (!sc || (name !== sc.default && !sc.allowed.has(name))) {
      throw new CredentialUnavailableError(serverId, new Error(`credential profile '${name}' is not allowed for this upstream (servers[].credentials)`));
    }
    return p;
  }

  async function acquire(serverId: string, p: Profile, pin: boolean): Promise<Credential> {
    try {
      return await cache!.acquire(p.name, p.config, serverId, pin);
    } catch (err) {
      throw new CredentialUnavailableError(serverId, err);
    }
  }

  function render(serverId: string, p: Profile, list: Array<[string, Template]>, c: Credential): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, t] of list) {
      let v: string;
      try {
        v = t.render(c.values);
      } catch (err) {
        if (err instanceof MissingFieldError) throw new CredentialUnavailableError(serverId, new Error(`profile '${p.name}': ${err.message} (for ${name})`));
        throw err;
      }
      // A secret with a line break would split the header (or smuggle another one): refuse rather than send it.
      if (/[\r\n\0]/.test(v)) throw new CredentialUnavailableError(serverId, new Error(`profile '${p.name}': the value for ${name} contains a line break`));
      out[name] = v;
    }
    return out;
  }

  // Rendered injections are reused for every call on the same credential.
  const rendered = new WeakMap<Credential, Map<string, Injection>>();

  function secretsOf(c: Credential, fields: string[]): string[] {
    return fields
      .filter((f) => !IDENTIFIER_FIELDS.has(f))
      .map((f) => c.values[f])
      .filter((v): v is string => typeof v === 'string' && v !== '');
  }

  async function issueCredentials(entry: CatalogEntry, decision: Decision): Promise<Injection> {
    const serverId = entry.server.id;
    const p = profileFor(serverId, decision);
    if (!p) return NONE;
    if (entry.server.transport === 'stdio') {
      const c = await acquire(serverId, p, true);
      // The process holds its credential in its environment: if that one is no longer the live one (expiring,
      // replaced, a new KV version), this call goes to a fresh process started with the live one.
      if (identity(spawnedWith.get(serverId)) !== identity(c)) {
        try {
          await recycle(serverId);
        } catch (err) {
          throw new CredentialUnavailableError(serverId, err);
        }
      }
      return { audit: { profile: p.name, lease: c.label }, secrets: secretsOf(c, p.envFields) };
    }
    const c = await acquire(serverId, p, false);
    let byProfile = rendered.get(c);
    if (!byProfile) rendered.set(c, (byProfile = new Map()));
    let injection = byProfile.get(p.name);
    if (!injection) {
      injection = Object.freeze({ headers: render(serverId, p, p.headers, c), audit: { profile: p.name, lease: c.label }, secrets: secretsOf(c, p.headerFields) });
      byProfile.set(p.name, injection);
    }
    return injection;
  }

  return {
    issueCredentials,
    attach(upstream) {
      const sc = servers.get(upstream.id);
      const p = sc?.default ? profiles.get(sc.default) : undefined;
      if (!p || !cache) return;
      upstreams.set(upstream.id, upstream);
      upstream.setEnvProvider(async () => {
        const c = await acquire(upstream.id, p, true);
        const env = render(upstream.id, p, p.env, c);
        spawnedWith.set(upstream.id, c);
        return env;
      });
    },
    start() {
      vault?.start();
    },
    async stop() {
      if (!cache || !vault) return;
      const r = await cache.revokeAll();
      log.info('credentials revoked at shutdown', r);
      await vault.stop();
    },
    async forgetServer(serverId) {
      upstreams.delete(serverId);
      spawnedWith.delete(serverId);
      await cache?.forgetServer(serverId);
    },
    status() {
      return vault ? vault.status() : 'disabled';
    },
    leaseCount() {
      return cache?.size ?? 0;
    },
  };
}
