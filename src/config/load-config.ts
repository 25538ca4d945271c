/** Reads the YAML config, validates it against config.schema.json, applies defaults and freezes it. */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { checkCredentialConfig } from './check-credentials.js';
import { checkTlsConfig } from './check-tls.js';
import type { GatewayConfig, VaultConfig } from './config.js';

const require = createRequire(import.meta.url);
const schema = require('./config.schema.json') as Record<string, unknown>;
// ajv-formats is CommonJS with a default export; under NodeNext the callable sits on .default.
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    // One problem fits on one line (what an operator reads first in a crash-looping pod's log).
    super(problems.length === 1 ? `invalid config ${source}: ${problems[0]}` : `invalid config ${source}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
addFormats(ajv);
const validateSchema = ajv.compile(schema);

/** "/servers/1/url" → "servers[1].url", the field name a person looks for in the YAML. */
export function fieldName(instancePath: string, missing?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (missing) parts.push(missing);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(root)' : out;
}

function describe(e: ErrorObject): string | null {
  switch (e.keyword) {
    case 'required':
      return `${fieldName(e.instancePath, String(e.params.missingProperty))}: is required`;
    case 'additionalProperties':
      return `${fieldName(e.instancePath, String(e.params.additionalProperty))}: unknown field`;
    case 'enum':
      return `${fieldName(e.instancePath)}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    // oneOf/if failures repeat what the branch errors already said.
    case 'oneOf':
    case 'if':
      return null;
    default:
      return `${fieldName(e.instancePath)}: ${e.message ?? 'is invalid'}`;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Validate an already-parsed document. `baseDir` resolves relative paths. */
export function buildConfig(doc: unknown, source: string, baseDir: string): GatewayConfig {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(source, ['(root): must be a mapping (YAML object)']);
  }
  const raw = structuredClone(doc) as Record<string, unknown>;
  // Sections whose every field has a default may be omitted entirely.
  for (const key of ['listen', 'http', 'sessions', 'audit', 'log', 'shutdown']) raw[key] ??= {};
  raw.auth ??= { mode: 'none' };
  raw.credentials ??= {};
  if (raw.vault && typeof raw.vault === 'object') (raw.vault as Record<string, unknown>).leases ??= {};
  if (!validateSchema(raw)) {
    const problems = [...new Set((validateSchema.errors ?? []).map(describe).filter((x): x is string => x !== null))];
    // oneOf failures with no branch error (e.g. both url and command) still need a message.
    if (problems.length === 0) {
      for (const e of validateSchema.errors ?? []) {
        problems.push(`${fieldName(e.instancePath)}: ${e.keyword === 'oneOf' ? 'must set exactly one of the alternatives (e.g. url or command, jwks.file or jwks.url)' : e.message}`);
      }
    }
    throw new ConfigError(source, problems);
  }
  const cfg = raw as unknown as Omit<GatewayConfig, 'source'>;
  const problems: string[] = [];
  const seen = new Set<string>();
  cfg.servers.forEach((s, i) => {
    if (seen.has(s.id)) problems.push(`servers[${i}].id: duplicate server id '${s.id}'`);
    seen.add(s.id);
    s.labels ??= {};
    s.args ??= [];
    s.restart ??= { initialDelayMs: 200, maxDelayMs: 30000 };
    if (s.cwd) s.cwd = resolvePath(baseDir, s.cwd);
  });
  if (cfg.auth.mode === 'jwt' && cfg.auth.jwks?.file) cfg.auth.jwks.file = resolvePath(baseDir, cfg.auth.jwks.file);
  if (cfg.auth.mode !== 'dev' && cfg.auth.devIdentities) problems.push('auth.devIdentities: only allowed with auth.mode dev');
  // Metrics name servers, tools and volumes: outside development they are not for anyone who can reach /mcp.
  if (cfg.metrics && cfg.metrics.enabled !== false && cfg.auth.mode === 'jwt' && !cfg.metrics.listen && !cfg.metrics.bearerTokenEnv) {
    problems.push('metrics: on the gateway\'s own listener with auth.mode jwt, set metrics.bearerTokenEnv (a scrape token) or metrics.listen (a listener of its own)');
  }
  if (cfg.metrics?.bearerTokenEnv && !process.env[cfg.metrics.bearerTokenEnv]) {
    problems.push(`metrics.bearerTokenEnv: environment variable ${cfg.metrics.bearerTokenEnv} is not set`);
  }
  problems.push(...checkCredentialConfig(cfg));
  problems.push(...checkTlsConfig(cfg, baseDir));
  if (cfg.vault) resolveVaultPaths(cfg.vault, baseDir);
  if (problems.length > 0) throw new ConfigError(source, problems);
  cfg.policy.bundle = resolvePath(baseDir, cfg.policy.bundle);
  if (cfg.policy.verification) cfg.policy.verification.keyFile = resolvePath(baseDir, cfg.policy.verification.keyFile);
  if (cfg.audit.file) cfg.audit.file = resolvePath(baseDir, cfg.audit.file);
  cfg.audit.spool.dir = resolvePath(baseDir, cfg.audit.spool.dir);
  return deepFreeze({ ...cfg, source } as GatewayConfig);
}

function resolveVaultPaths(v: VaultConfig, baseDir: string): void {
  if (v.caFile) v.caFile = resolvePath(baseDir, v.caFile);
  for (const k of ['roleIdFile', 'secretIdFile', 'tokenFile'] as const) {
    const f = v.auth[k];
    if (f) v.auth[k] = resolvePath(baseDir, f);
  }
}

function resolvePath(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** Read, parse and validate a YAML config file. Throws ConfigError naming each bad field. */
export function loadConfig(file: string): GatewayConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(abs, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError(abs, [`YAML syntax: ${(err as Error).message.split('\n')[0]}`]);
  }
  return buildConfig(doc, abs, dirname(abs));
}
