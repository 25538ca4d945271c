/** The validated, defaulted, frozen configuration type (mirrors config.schema.json; config.test.ts fails on drift). */

export type AuthMode = 'jwt' | 'none' | 'dev';

export interface DevIdentity {
  sub: string;
  roles?: string[];
  groups?: string[];
  scope?: string;
}

export interface AuthConfig {
  mode: AuthMode;
  issuer?: string;
  audience?: string | string[];
  jwks?: { file?: string; url?: string };
  algorithms: string[];
  clockToleranceSeconds: number;
  rolesClaim: string;
  groupsClaim: string;
  requiredScopes: string[];
  devIdentities?: DevIdentity[];
  clientCertificate?: ClientCertificateAuthConfig;
}

export interface ClientCertificateAuthConfig {
  mode: 'alongside' | 'instead';
  rolesFromOU: boolean;
  roles: Record<string, string[]>;
}

export interface ListenTlsConfig {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
  requireClientCert: boolean;
}

export interface UpstreamTlsConfig {
  caFile?: string;
  clientCert?: { vaultPki?: { mount: string; role: string; commonName: string; ttl: string }; certFile?: string; keyFile?: string };
}

export interface ServerConfig {
  id: string;
  url?: string;
  command?: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  headers?: Record<string, string>;
  labels: Record<string, string>;
  timeoutMs: number;
  /** HTTP: connections per upstream for calls. */
  maxConnections: number;
  /** Largest answer (JSON body, SSE event, STDIO message) accepted from the upstream. */
  maxResponseBytes: number;
  restart: { initialDelayMs: number; maxDelayMs: number };
  /** Bounds on the upstream's tool list (src/catalog/limits.ts); optional only for configs built by hand. */
  toolList?: { maxTools: number; maxDescriptionLength: number; maxBytes: number };
  credentials?: { default?: string; allowed: string[] };
  tls?: UpstreamTlsConfig;
}

export interface VaultAuthConfig {
  method: 'approle' | 'token';
  mount: string;
  roleId?: string;
  roleIdFile?: string;
  roleIdEnv?: string;
  secretIdFile?: string;
  secretIdEnv?: string;
  tokenFile?: string;
  tokenEnv: string;
}

export interface VaultConfig {
  address?: string;
  namespace?: string;
  caFile?: string;
  requestTimeoutMs: number;
  auth: VaultAuthConfig;
  leases: { renewFraction: number; safetyMarginSeconds: number; idleSeconds: number };
}

export interface CredentialProfileConfig {
  source: 'dynamic' | 'kv-v2';
  path: string;
  cacheSeconds: number;
  headers?: Record<string, string>;
  env?: Record<string, string>;
}

export interface ApprovalsConfig {
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  progressIntervalSeconds: number;
  retainClosedSeconds: number;
  store: { kind: 'memory' | 'redis'; redis?: { url?: string; urlEnv?: string; keyPrefix: string } };
  console: { issuer?: string; clientId?: string; clientSecretEnv?: string; scopes: string[]; sessionTtlSeconds: number; sessionKeyEnv?: string };
  webhook?: { url: string; secretEnv: string; maxAttempts: number; timeoutMs: number; initialBackoffMs: number };
  /** Bounds on MCP tasks (src/transport/tasks.ts), which are on whenever approvals are. */
  tasks: { maxTtlMs: number; maxResultBytes: number; maxPerSession: number; maxTotalBytes: number };
}

export interface MetricsConfig {
  enabled: boolean;
  path: string;
  listen?: { host: string; port: number };
  defaultMetrics: boolean;
  /** Environment variable holding the scrape token. */
  bearerTokenEnv?: string;
}

export interface TracingConfig {
  enabled: boolean;
  otlpUrl: string;
  serviceName: string;
  sampleRatio: number;
  exportIntervalMs: number;
  headers?: Record<string, string>;
}

export interface QuotaBucketConfig {
  per: Array<'subject' | 'server' | 'tool'>;
  perMinute?: number;
  perDay?: number;
  resultBytesPerDay?: number;
  resultTokensPerDay?: number;
  costPerCall: number;
  costPerDay?: number;
}

export interface QuotasConfig {
  store: 'memory' | 'redis';
  redis?: { url?: string; urlEnv?: string; keyPrefix: string };
  timeoutMs: number;
  failOpen: boolean;
  usageRole: string;
  usageRetentionDays: number;
  buckets: Record<string, QuotaBucketConfig>;
}

export interface AuditConfig {
  file?: string;
  stdout: boolean;
  hmacKeyEnv?: string;
  maxFileBytes: number;
  maxFiles: number;
  postgres?: { url?: string; urlEnv?: string; table: string };
  checkpoint?: { keyEnv: string; everyRecords: number; everySeconds: number };
  batch: { maxRecords: number; maxDelayMs: number };
  spool: { dir: string; maxBytes: number };
  onFull: 'fail-closed' | 'fail-open';
}

export interface DecisionLogsConfig {
  url: string;
  maxBatch: number;
  maxDelayMs: number;
  headers: Record<string, string>;
  headersEnv: Record<string, string>;
  labels: Record<string, string>;
  bufferMaxEvents: number;
  timeoutMs: number;
  maxRetryDelayMs: number;
}

export interface GatewayConfig {
  /** Absolute path of the file this was loaded from (or '<embedded>'). */
  source: string;
  listen: { host: string; port: number; tls?: ListenTlsConfig };
  publicUrl?: string;
  http: { allowedOrigins: string[]; allowedHosts?: string[]; maxBodyBytes: number; headersTimeoutMs: number; requestTimeoutMs: number; maxConnections: number };
  sessions: { idleTimeoutSeconds: number; max: number; maxPerPrincipal: number; maxInitializeBytes: number };
  auth: AuthConfig;
  policy: {
    bundle: string;
    timeoutMs: number;
    listCacheSeconds: number;
    pollIntervalMs: number;
    maxMemoryPages: number;
    verification?: { keyFile: string; algorithm: string; keyId: string; scope?: string };
  };
  servers: ServerConfig[];
  vault?: VaultConfig;
  credentials: Record<string, CredentialProfileConfig>;
  approvals?: ApprovalsConfig;
  metrics?: MetricsConfig;
  tracing?: TracingConfig;
  quotas?: QuotasConfig;
  audit: AuditConfig;
  decisionLogs?: DecisionLogsConfig;
  log: { level: 'error' | 'warn' | 'info' | 'debug' };
  shutdown: { graceSeconds: number; componentStopSeconds: number };
}
