/**
 * Assembles the approval workflow from the `approvals:` config: the store, the gate that holds calls, the webhook,
 * the console sign-in, and the HTTP routes. Without an `approvals:` section, calls that need approval are refused.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import express from 'express';
import type { AuditSink } from '../audit/index.js';
import type { ApprovalsConfig, AuthConfig } from '../config/index.js';
import type { Authenticate } from '../identity/index.js';
import type { Logger } from '../telemetry/logger.js';
import { createApprovalGate, createRefusingGate, type AwaitApproval } from './approval-gate.js';
import { createApprovalsApi } from './approvals-api.js';
import { createConsoleAuth, type ConsoleAuth } from './console-auth.js';
import { createConsoleRoutes } from './console-routes.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import type { ApprovalStore } from './types.js';
import { createWebhookNotifier, type WebhookNotifier } from './webhook.js';

export interface ApprovalsOptions {
  config: ApprovalsConfig | undefined;
  auth: AuthConfig;
  /** The issuer the gateway verifies client tokens against (the console signs in there unless told otherwise). */
  issuer: string | undefined;
  publicUrl?: string;
  authenticate: Authenticate;
  audit: AuditSink;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface Approvals {
  awaitApproval: AwaitApproval;
  /** /approvals and /console; absent when approvals are not configured. */
  router?: express.Router;
  /** The URL the gateway listens on, for console links when no publicUrl is configured. */
  setListenUrl(base: string): void;
  /** Checks the store answers; logs (does not throw) when it does not, since calls needing approval fail closed anyway. */
  start(): Promise<void>;
  /** Withdraws the calls this replica holds, so their clients get an answer before shutdown. */
  drain(reason: string): Promise<void>;
  stop(): Promise<void>;
  readonly storeKind: 'memory' | 'redis' | null;
  /** Calls this replica holds while they wait for a reviewer (metrics). */
  readonly holding: number;
}

function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined, field: string): string | undefined {
  if (name === undefined) return undefined;
  const v = env[name];
  if (!v) throw new Error(`${field}: environment variable ${name} is not set`);
  return v;
}

export function createApprovals(opts: ApprovalsOptions): Approvals {
  const { config: cfg, log, audit } = opts;
  if (!cfg) {
    return {
      awaitApproval: createRefusingGate(),
      setListenUrl() {},
      async start() {},
      async drain() {},
      async stop() {},
      storeKind: null,
      holding: 0,
    };
  }
  const env = opts.env ?? process.env;
  const retainMs = cfg.retainClosedSeconds * 1000;

  let store: ApprovalStore;
  if (cfg.store.kind === 'redis') {
    const url = cfg.store.redis?.url ?? secretFromEnv(env, cfg.store.redis?.urlEnv, 'approvals.store.redis.urlEnv');
    if (!url) throw new Error('approvals.store.redis: url or urlEnv is required when store.kind is redis');
    store = createRedisStore({ url, keyPrefix: cfg.store.redis?.keyPrefix ?? 'portcullis:approvals:', retainMs, log });
  } else {
    store = createMemoryStore({ retainMs });
  }

  let listenUrl: string | undefined;
  const base = () => opts.publicUrl?.replace(/\/$/, '') ?? listenUrl;
  const link = (id: string) => {
    const b = base();
    return b ? `${b}/console/approvals/${id}` : undefined;
  };

  let webhook: WebhookNotifier | undefined;
  if (cfg.webhook) {
    webhook = createWebhookNotifier({
      url: cfg.webhook.url,
      secret: secretFromEnv(env, cfg.webhook.secretEnv, 'approvals.webhook.secretEnv')!,
      maxAttempts: cfg.webhook.maxAttempts,
      timeoutMs: cfg.webhook.timeoutMs,
      initialBackoffMs: cfg.webhook.initialBackoffMs,
      link,
      log,
    });
  }

  const replica = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const gate = createApprovalGate({
    store,
    replica,
    keyedHash: (v) => audit.hash(v),
    defaultTimeoutSeconds: cfg.defaultTimeoutSeconds,
    maxTimeoutSeconds: cfg.maxTimeoutSeconds,
    progressIntervalMs: cfg.progressIntervalSeconds * 1000,
    clockToleranceSeconds: opts.auth.clockToleranceSeconds,
    announce: webhook ? (rec) => webhook!.announce(rec) : undefined,
    link,
    log,
  });

  let consoleAuth: ConsoleAuth | undefined;
  const c = cfg.console;
  if (c.clientId) {
    const issuer = c.issuer ?? opts.issuer;
    if (!issuer || !/^https?:\/\//.test(issuer)) {
      throw new Error('approvals.console: an OpenID issuer URL is needed for sign-in (approvals.console.issuer, or auth.issuer in jwt mode)');
    }
    consoleAuth = createConsoleAuth({
      issuer,
      clientId: c.clientId,
      clientSecret: secretFromEnv(env, c.clientSecretEnv, 'approvals.console.clientSecretEnv'),
      scopes: c.scopes,
      algorithms: opts.auth.algorithms,
      rolesClaim: opts.auth.rolesClaim,
      groupsClaim: opts.auth.groupsClaim,
      sessionTtlSeconds: c.sessionTtlSeconds,
      sessionKey: secretFromEnv(env, c.sessionKeyEnv, 'approvals.console.sessionKeyEnv'),
      publicUrl: opts.publicUrl,
      log,
    });
  } else {
    log.info('approvals: console sign-in is off (approvals.console.clientId not set); reviewers use the API with bearer tokens');
  }

  const router = express.Router();
  router.use(createApprovalsApi({ store, authenticate: opts.authenticate, consoleAuth, audit, keyedHash: (v) => audit.hash(v), link, log }));
  router.use(createConsoleRoutes({ auth: consoleAuth, log }));

  return {
    awaitApproval: gate.awaitApproval,
    router,
    setListenUrl(b) {
      listenUrl = b.replace(/\/$/, '');
    },
    async start() {
      try {
        await Promise.race([store.ready(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref())]);
        log.info('approvals ready', { store: store.kind, replica });
      } catch (err) {
        log.error('approval store unavailable: calls that need approval will be refused until it answers', { store: store.kind, error: (err as Error).message });
      }
    },
    drain: (reason) => gate.drain(reason),
    async stop() {
      await webhook?.stop();
      await store.stop();
    },
    storeKind: store.kind,
    get holding() {
      return gate.holding;
    },
  };
}
