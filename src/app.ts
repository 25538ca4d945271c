/**
 * The composition root. buildGateway checks the config against the world (secrets, keys, files) and constructs
 * every stage, starting nothing; startGateway then starts the parts in dependency order through one Lifecycle, so
 * a problem found while building leaves no child process, listener, timer or connection behind.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createApprovals } from './approval/index.js';
import { auditOptionsFromConfig, createAuditSink, createDecisionLogShipper, decisionLogOptionsFromConfig, type AuditFlushResult, type AuditSink } from './audit/index.js';
import { Catalog } from './catalog/index.js';
import { ConfigError, type GatewayConfig } from './config/index.js';
import { createCredentials, createUpstreamTls, createVaultClient } from './credentials/index.js';
import { createAuthenticator, createDevKeys, DEV_ISSUER, withClientCertificate, type Authenticate } from './identity/index.js';
import { createCallTool } from './pipeline/call-tool.js';
import { createListTools } from './pipeline/list-tools.js';
import { createRelayMethods } from './pipeline/relay-methods.js';
import { createFrame } from './pipeline/frame.js';
import { createMethodTable } from './pipeline/methods.js';
import { createVariantLoader } from './pipeline/tool-variants.js';
import { BundleWatcher, createAuthorizer, loadVerificationKey, PolicyEngine } from './policy/index.js';
import type { Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import { createTracing, TRACING_OFF } from './telemetry/tracing.js';
import { createQuotas } from './quota/index.js';
import { isLoopback } from './transport/guards.js';
import { createHttpApp, lastResort } from './transport/http-app.js';
import { createListener } from './transport/tls.js';
import { broadcast, broadcastAll, broadcastToolsChanged } from './transport/mcp-endpoint.js';
import type { JsonRpcNotification } from './protocol/json-rpc.js';
import { supportedVersions } from './protocol/mcp.js';
import { SessionStore } from './transport/sessions.js';
import { Listeners } from './transport/listeners.js';
import { Upstream } from './upstream/index.js';
import { component, Lifecycle, type Component } from './lifecycle.js';

export const VERSION = '0.1.0';

export interface Gateway {
  url: string;
  port: number;
  /** Example tokens, dev mode only. */
  devTokens: Array<{ sub: string; roles: string[]; token: string }>;
  /** The metrics URL when metrics have a listener of their own. */
  metricsUrl?: string;
  stop(reason?: string): Promise<void>;
  /** Last resort before the process dies (uncaughtException): audit's synchronous flush, see src/audit/README.md. */
  flushAuditSync(): AuditFlushResult;
}

/** A gateway built and checked, nothing started yet. `portcullis validate` builds one and discards it. */
export interface BuiltGateway {
  readonly lifecycle: Lifecycle;
  /** Starts every part in dependency order and listens; on a failure stops what had started and rethrows. */
  start(): Promise<Gateway>;
}

/** Collects one message per problem, each starting with the config field it concerns (like ConfigError). */
class Problems {
  readonly list: string[] = [];
  /** Runs a build step; a failure is recorded under `field` (unless its message already names a field) and yields undefined. */
  step<T>(field: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.add(field, err);
      return undefined;
    }
  }
  async stepAsync<T>(field: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.add(field, err);
      return undefined;
    }
  }
  private add(field: string, err: unknown): void {
    const msg = ((err as Error)?.message ?? String(err)).split('\n')[0]!;
    this.list.push(msg.startsWith(field.split(/[.[]/)[0]!) ? msg : `${field}: ${msg}`);
  }
}

/** Stands in for a part that failed to build, so the remaining checks still run; never started (the build throws). */
const UNBUILT_AUTHENTICATE: Authenticate = async () => {
  throw new Error('not built');
};

/**
 * Does every check and every secret, key and file read, and constructs everything: no child process, listener,
 * timer, network connection or file is created. Throws one ConfigError listing every problem found.
 */
export async function buildGateway(cfg: GatewayConfig, log: Logger): Promise<BuiltGateway> {
  const problems = new Problems();
  const lifecycle = new Lifecycle({ log, stopTimeoutMs: cfg.shutdown.componentStopSeconds * 1000 });

  // Audit first: every later stage hashes identifiers with its key. Its sinks open at start.
  const audit: AuditSink = createAuditSink(problems.step('audit', () => auditOptionsFromConfig(cfg.audit, log)) ?? { stdout: false });
  // OPA-compatible decision logs (optional): the authorizer reports every evaluation to it.
  const decisionLogs = cfg.decisionLogs
    ? problems.step('decisionLogs', () => createDecisionLogShipper(decisionLogOptionsFromConfig(cfg.decisionLogs!, { version: VERSION, hash: (v) => audit.hash(v), log })))
    : undefined;

  // Identity.
  let authenticate: Authenticate = UNBUILT_AUTHENTICATE;
  const devTokens: Gateway['devTokens'] = [];
  let issuer = cfg.auth.issuer;
  if (cfg.auth.mode === 'dev') {
    const keys = await createDevKeys();
    issuer = DEV_ISSUER;
    authenticate = createAuthenticator({ auth: cfg.auth, keySet: keys.keySet, issuer });
    const aud = Array.isArray(cfg.auth.audience) ? cfg.auth.audience[0]! : cfg.auth.audience!;
    for (const id of cfg.auth.devIdentities ?? []) {
      devTokens.push({ sub: id.sub, roles: id.roles ?? [], token: await keys.mint(id, aud, 12 * 3600) });
    }
  } else {
    // jwks.file is read here: a missing or malformed key set is a build problem, not a first-request surprise.
    authenticate = problems.step(cfg.auth.mode === 'jwt' && cfg.auth.jwks?.file ? 'auth.jwks.file' : 'auth', () => createAuthenticator({ auth: cfg.auth })) ?? UNBUILT_AUTHENTICATE;
  }
  // The verified TLS client certificate, instead of or alongside the token (only with listen.tls.clientCaFile).
  if (cfg.auth.clientCertificate) authenticate = withClientCertificate(authenticate, cfg.auth.clientCertificate);

  // Policy. A missing bundle is not a problem: the gateway fails closed until one loads.
  const v = cfg.policy.verification;
  const key = v ? await problems.stepAsync('policy.verification.keyFile', () => loadVerificationKey(v)) : undefined;
  const verifier = v && key ? { config: v, key } : undefined;
  const engine = new PolicyEngine({ timeoutMs: cfg.policy.timeoutMs, maxMemoryPages: cfg.policy.maxMemoryPages, verifier });
  const authorizer = createAuthorizer(engine, { listCacheSeconds: cfg.policy.listCacheSeconds, decisionLogger: decisionLogs });
  // A new bundle may change what every client may see: tell each client with a stream to list again (the
  // gateway advertises listChanged for tools, prompts and resources).
  const sessions = new SessionStore(cfg.sessions.idleTimeoutSeconds * 1000, cfg.sessions.max, (id) => audit.hash(id), cfg.sessions.maxPerPrincipal);
  // Change notifications reach both eras: 2025 sessions on their GET streams, 2026-07-28 clients on their
  // subscriptions/listen streams.
  const listeners = new Listeners();
  const onBundleChange = (): void => {
    for (const method of ['notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/resources/list_changed']) {
      broadcastAll(sessions, { method });
      listeners.publish(null, method);
    }
  };
  const watcher = new BundleWatcher({ path: cfg.policy.bundle, pollIntervalMs: cfg.policy.pollIntervalMs, engine, log, onActivate: onBundleChange });

  // Catalog and upstreams.
  const catalog = new Catalog(log);
  const upstreams = cfg.servers.map((s) => new Upstream(s, log));
  // One Vault session for leases and for upstream client certificates (PKI), when any upstream needs one.
  const pkiVault = cfg.vault && cfg.servers.some((s) => s.tls?.clientCert?.vaultPki) ? problems.step('vault', () => createVaultClient(cfg.vault!, log)) : undefined;
  const credentials = problems.step('vault', () => createCredentials({ config: cfg, log, vault: pkiVault }));
  // mTLS towards HTTP upstreams: each gets its CA and client certificate before it first connects (CA files read here).
  const upstreamTls = upstreams.flatMap((u) => {
    if (!u.config.tls) return [];
    const i = cfg.servers.indexOf(u.config);
    const t = problems.step(`servers[${i}].tls`, () => createUpstreamTls({ server: u.config, vault: pkiVault, log, apply: (x) => u.useTls(x) }));
    return t ? [{ id: u.id, t }] : [];
  });
  // A STDIO upstream with a credential profile needs it in its environment at spawn.
  if (credentials) for (const u of upstreams) if (u.kind === 'stdio') credentials.attach(u);
  for (const u of upstreams) {
    catalog.addServer(u);
    u.on('tools', () => {
      broadcastToolsChanged(sessions, u.id);
      listeners.publish(u.id, 'notifications/tools/list_changed');
    });
    u.on('broadcast', (n: JsonRpcNotification) => {
      broadcast(sessions, u.id, n);
      listeners.publish(u.id, n.method);
    });
  }

  // Approvals: without an `approvals:` section, calls that need approval are refused at once. Its secrets are read here.
  const approvals = problems.step('approvals', () => createApprovals({ config: cfg.approvals, auth: cfg.auth, issuer, publicUrl: cfg.publicUrl, authenticate, audit, log }));

  // Telemetry and quotas: each is built only when configured, and costs nothing on the request path otherwise.
  const metrics = cfg.metrics?.enabled
    ? new Metrics(
        {
          sessions: () => sessions.size,
          upstreams: () => upstreams.map((u) => ({ id: u.id, kind: u.kind, state: u.state, connections: u.connections, restarts: u.restarts })),
          bundle: () => engine.bundle,
          knownServer: (id) => catalog.servers.has(id),
          knownTool: (id, tool) => catalog.resolve(id, tool) !== undefined,
          pendingApprovals: cfg.approvals ? () => approvals?.holding ?? 0 : undefined,
          bundleRejections: () => watcher.rejections,
          toolListRejections: () => catalog.rejectedLists,
          droppedTools: () => catalog.droppedTools,
          vaultLeases: cfg.vault ? () => credentials?.leaseCount() ?? 0 : undefined,
          auditBacklog: () => audit.backlog(),
        },
        { ...cfg.metrics, bearerToken: cfg.metrics.bearerTokenEnv ? process.env[cfg.metrics.bearerTokenEnv] : undefined },
      )
    : undefined;
  metrics?.instrument(audit);
  const tracing = cfg.tracing?.enabled ? (problems.step('tracing', () => createTracing({ ...cfg.tracing!, serviceVersion: VERSION }, log)) ?? TRACING_OFF) : TRACING_OFF;
  const quotas = problems.step('quotas', () => createQuotas({ config: cfg.quotas, authenticate, log, registry: metrics?.registry }));

  let draining = false;
  /** When an accept last failed for lack of file descriptors. */
  let descriptorsExhaustedAt = 0;
  const inflight = { count: 0 };
  // The listener is created (its TLS certificate and key read) but not bound.
  const server = problems.step('listen.tls', () =>
    createListener(
      cfg.listen.tls,
      (req, res) => {
        // Nothing a client sends may throw out of here: a synchronous throw would be an uncaughtException.
        try {
          if (!app.fastPost?.(req, res)) app(req, res);
        } catch (err) {
          lastResort(log, res, err);
        }
      },
      // requestTimeout times only the receipt of the request (a slow or stalled body), not the answer: long tool
      // calls, approval waits and GET streams are not cut by it.
      cfg.http,
    ),
  );

  if (problems.list.length > 0 || !approvals || !quotas || !credentials || !server) throw new ConfigError(cfg.source, problems.list);

  const routes = express.Router();
  if (approvals.router) routes.use(approvals.router);
  if (quotas.router) routes.use(quotas.router);
  if (metrics && !cfg.metrics?.listen) routes.get(cfg.metrics!.path, metrics.handler(log));

  // With approvals a call may wait minutes for a human: offer MCP tasks so it need not hold an HTTP request open.
  // Their bounds (approvals.tasks) keep finished results from piling up in memory.
  const tasks = cfg.approvals ? cfg.approvals.tasks : undefined;
  // The request core: one frame, one method table; transports only adapt HTTP to it.
  const frame = createFrame({ audit, log, bundle: () => (engine.bundle ? { revision: engine.bundle.revision, generation: engine.bundle.generation } : null) });
  const ensureVariants = createVariantLoader(catalog, log);
  const listTools = createListTools({ catalog, authorizer, ensureVariants, tasks: Boolean(tasks) });
  const relay = createRelayMethods({ catalog, authorizer, awaitApproval: approvals.awaitApproval });
  const callTool = createCallTool({
    catalog,
    authorizer,
    awaitApproval: approvals.awaitApproval,
    issueCredentials: credentials.issueCredentials,
    admitQuota: quotas.admit,
    audit,
    log,
    ensureVariants,
  });
  const methods = createMethodTable({
    frame,
    listTools,
    callTool,
    relay,
    discover: (serverId) => {
      const u = serverId === null ? undefined : catalog.servers.get(serverId)?.upstream;
      const capabilities = u ? { ...u.capabilities, tools: { listChanged: true } } : aggregateCapabilities(upstreams);
      const result: Record<string, unknown> = { supportedVersions: supportedVersions(), capabilities, serverInfo: u?.serverInfo ?? { name: 'portcullis', version: VERSION } };
      if (u?.instructions) result.instructions = u.instructions;
      return result;
    },
  });

  const loopback = isLoopback(cfg.listen.host);
  const app = createHttpApp({
    origin: {
      // The gateway's own public origin is where the approvals console runs; its requests are not a rebinding attack.
      allowedOrigins: [...cfg.http.allowedOrigins, ...(cfg.publicUrl ? [new URL(cfg.publicUrl).origin] : [])],
      allowedHosts: cfg.http.allowedHosts ? [...cfg.http.allowedHosts] : loopback ? ['localhost', '127.0.0.1', '[::1]'] : undefined,
      loopbackOnly: loopback,
    },
    maxBodyBytes: cfg.http.maxBodyBytes,
    publicUrl: cfg.publicUrl,
    issuer,
    scopes: [...cfg.auth.requiredScopes],
    log,
    routes,
    readiness: () => {
      const bundle = engine.bundle;
      const ups = Object.fromEntries(upstreams.map((u) => [u.id, u.state]));
      const descriptors = Date.now() - descriptorsExhaustedAt < 5000 ? 'exhausted' : 'ok';
      // Not ready while audit refuses calls (fail-closed) or descriptors ran out: a load balancer sends new
      // clients elsewhere.
      const ready = !draining && bundle !== null && upstreams.every((u) => u.state === 'ok') && descriptors === 'ok' && audit.accepting();
      return {
        ready,
        detail: {
          bundle: bundle ? { revision: bundle.revision, activatedAt: bundle.activatedAt.toISOString(), state: watcher.status() } : null,
          bundleError: watcher.error,
          upstreams: ups,
          // Reported, not gating: a Vault outage fails only the calls that need a credential.
          vault: credentials.status(),
          draining,
          audit: audit.backlog(),
          auditAccepting: audit.accepting(),
          descriptors,
          ...(decisionLogs ? { decisionLogs: decisionLogs.status() } : {}),
          // Every long-lived part by name (src/lifecycle.ts).
          components: lifecycle.status(),
        },
      };
    },
    endpoint: {
      authenticate,
      sessions,
      dispatch: methods.dispatch,
      refusal: frame.refusal,
      log,
      serverExists: (id) => catalog.servers.has(id),
      serverInfo: { name: 'portcullis', version: VERSION },
      tasks,
      upstream: (id) => catalog.servers.get(id)?.upstream,
      aggregateCapabilities: () => aggregateCapabilities(upstreams),
      draining: () => draining,
      maxInitializeBytes: cfg.sessions.maxInitializeBytes,
      listTtlMs: cfg.policy.listCacheSeconds * 1000,
      listeners,
      inflight,
      tracing,
    },
  });
  // Accept failures (EMFILE, ENFILE) arrive here; without a listener they would kill the process. Readiness goes
  // false for a while so a load balancer sends new clients elsewhere.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (!server.listening) return;
    if (err.code === 'EMFILE' || err.code === 'ENFILE') descriptorsExhaustedAt = Date.now();
    log.error('listener error', { code: err.code, error: err.message });
  });

  // Start order = dependency order; stop runs it backwards (the listener first, audit last).
  let metricsUrl: string | undefined;
  lifecycle.add(component('audit', { start: () => audit.open(), stop: () => audit.close(), status: () => ({ state: audit.accepting() ? 'ok' : 'degraded', detail: audit.backlog() }) }));
  if (decisionLogs) lifecycle.add(component('decisionLogs', { stop: () => decisionLogs.close(), status: () => ({ state: 'ok', detail: decisionLogs.status() }) }));
  lifecycle.add(component('bundleWatcher', { start: () => watcher.start(), stop: () => watcher.stop(), status: () => ({ state: watcherState(watcher.status()), detail: watcher.error ?? undefined }) }));
  if (pkiVault) lifecycle.add(component('vault', { stop: () => pkiVault.stop(), status: () => ({ state: vaultState(pkiVault.status()) }) }));
  lifecycle.add(component('credentials', { start: () => credentials.start(), stop: () => credentials.stop(), status: () => ({ state: vaultState(credentials.status()) }) }));
  for (const { id, t } of upstreamTls) lifecycle.add(component(`upstreamTls:${id}`, { start: () => t.start(), stop: () => t.stop() }));
  lifecycle.add(upstreamsComponent(upstreams));
  lifecycle.add(component('approvals', { start: () => approvals.start(), stop: () => approvals.stop() }));
  if (metrics) lifecycle.add(component('metrics', { start: async () => void (metricsUrl = await metrics.start(log)), stop: () => metrics.stop() }));
  if (tracing !== TRACING_OFF) lifecycle.add(component('tracing', { stop: () => tracing.shutdown() }));
  lifecycle.add(component('quotas', { start: () => quotas.start(), stop: () => quotas.stop() }));
  lifecycle.add(
    component('listener', {
      start: () =>
        new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(cfg.listen.port, cfg.listen.host, () => {
            server.off('error', reject);
            resolve();
          });
        }),
      stop: () => {
        if (!server.listening) return;
        server.close();
        server.closeAllConnections();
      },
    }),
  );

  // After the listener, so that at stop they end their streams gracefully before the listener cuts connections.
  lifecycle.add(component('sessions', { start: () => sessions.start(), stop: () => sessions.stop() }));
  lifecycle.add(component('subscriptions', { stop: () => listeners.closeAll() }));

  let stopping: Promise<void> | null = null;
  const stop = (reason = 'stop') => {
    stopping ??= (async () => {
      draining = true;
      // Held calls cannot finish within a grace period measured in seconds: withdraw them so their clients get an answer.
      await approvals.drain('the gateway is shutting down');
      log.info('shutting down: no new sessions, waiting for in-flight calls', { reason, inflight: inflight.count, graceSeconds: cfg.shutdown.graceSeconds });
      const deadline = Date.now() + cfg.shutdown.graceSeconds * 1000;
      while (inflight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (inflight.count > 0) log.warn('grace period over; cutting off in-flight calls', { inflight: inflight.count });
      // Sessions and subscription streams end gracefully first, then the listener closes, the upstreams before the credentials (no call can still be using a lease
      // when it is revoked), audit last.
      await lifecycle.stop();
      log.info('shutdown complete');
    })();
    return stopping;
  };

  return {
    lifecycle,
    async start() {
      // On a failure the lifecycle has already stopped what it started: nothing outlives a gateway that never listened.
      await lifecycle.start();
      const port = (server.address() as AddressInfo).port;
      const host = cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
      const scheme = cfg.listen.tls ? 'https' : 'http';
      const url = `${scheme}://${host}:${port}/mcp`;
      approvals.setListenUrl(`${scheme}://${host}:${port}`);
      if (cfg.auth.mode === 'none') log.warn('!!! AUTHENTICATION IS OFF (auth.mode: none): every caller is the anonymous subject. Local development only. !!!');
      if (cfg.auth.mode === 'dev') log.warn('auth.mode dev: tokens are signed by a key generated at start and valid only for this process');
      log.info('portcullis listening', { url, servers: upstreams.map((u) => u.id), bundle: engine.bundle?.revision ?? null, auth: cfg.auth.mode });
      return { url, port, devTokens, metricsUrl, stop, flushAuditSync: () => audit.flushSync() };
    },
  };
}

/** Builds, then starts every part in dependency order. */
export async function startGateway(cfg: GatewayConfig, log: Logger): Promise<Gateway> {
  return (await buildGateway(cfg, log)).start();
}

/**
 * The upstreams as one component: they connect concurrently, and a slow or absent one does not hold up the others
 * or the start (readyz reports it; it is retried in the background).
 */
function upstreamsComponent(upstreams: Upstream[]): Component {
  return component('upstreams', {
    start: () => Promise.race([Promise.all(upstreams.map((u) => u.start())), new Promise((r) => setTimeout(r, 10_000).unref())]),
    stop: () => Promise.all(upstreams.map((u) => u.stop())),
    status: () => ({
      state: upstreams.every((u) => u.state === 'ok') ? 'ok' : upstreams.some((u) => u.state === 'ok') ? 'degraded' : 'down',
      detail: Object.fromEntries(upstreams.map((u) => [u.id, u.state])),
    }),
  });
}

function watcherState(s: ReturnType<BundleWatcher['status']>): 'ok' | 'degraded' | 'down' | 'starting' {
  return s === 'ok' ? 'ok' : s === 'warn' ? 'degraded' : s === 'error' ? 'down' : 'starting';
}

function vaultState(s: 'not_ready' | 'ok' | 'error' | 'disabled'): 'ok' | 'down' | 'starting' | 'idle' {
  return s === 'ok' ? 'ok' : s === 'error' ? 'down' : s === 'disabled' ? 'idle' : 'starting';
}

/** The aggregate endpoint offers what any of its upstreams offers (plus tools, which it always has). */
function aggregateCapabilities(upstreams: Upstream[]): Record<string, unknown> {
  const caps: Record<string, unknown> = { tools: { listChanged: true } };
  for (const u of upstreams) {
    const c = u.capabilities;
    if (c.prompts) caps.prompts = { listChanged: true };
    if (c.resources) caps.resources = { listChanged: true, subscribe: Boolean((c.resources as { subscribe?: boolean }).subscribe) || Boolean((caps.resources as { subscribe?: boolean } | undefined)?.subscribe) };
    if (c.logging) caps.logging = {};
    if (c.completions) caps.completions = {};
  }
  return caps;
}
