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
  restart: { initialDelayMs: number; maxDelayMs: number };
}

export interface GatewayConfig {
  /** Absolute path of the file this was loaded from (or '<embedded>'). */
  source: string;
  listen: { host: string; port: number };
  publicUrl?: string;
  http: { allowedOrigins: string[]; allowedHosts?: string[]; maxBodyBytes: number };
  sessions: { idleTimeoutSeconds: number; max: number };
  auth: AuthConfig;
  policy: { bundle: string; timeoutMs: number; listCacheSeconds: number; pollIntervalMs: number; maxMemoryPages: number };
  servers: ServerConfig[];
  audit: { file?: string; stdout: boolean; hmacKeyEnv?: string };
  log: { level: 'error' | 'warn' | 'info' | 'debug' };
  shutdown: { graceSeconds: number };
}
