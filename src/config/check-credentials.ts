/**
 * The credential rules JSON Schema cannot express: profiles that servers name must exist and suit the transport,
 * templates must parse, KV v2 paths must be API paths. Run by load-config, so `portcullis validate` reports them.
 */
import type { CredentialProfileConfig, GatewayConfig } from './config.js';
import { compileTemplate, TemplateSyntaxError } from './template.js';

// Headers the gateway itself sets on every upstream request, or that describe the connection: a profile that set
// them would break the MCP session or the HTTP framing.
const RESERVED_HEADERS = new Set([
  'accept',
  'connection',
  'content-length',
  'content-type',
  'host',
  'keep-alive',
  'mcp-protocol-version',
  'mcp-session-id',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkProfile(name: string, p: CredentialProfileConfig): string[] {
  const at = `credentials.${name}`;
  const problems: string[] = [];
  if (p.source === 'kv-v2' && p.path.split('/')[1] !== 'data') {
    problems.push(`${at}.path: a kv-v2 path is the API path <mount>/data/<name>, e.g. secret/data/${p.path.split('/').slice(1).join('/') || 'app'}`);
  }
  if (!p.headers && !p.env) problems.push(`${at}: set headers (HTTP upstreams) or env (STDIO upstreams), or both`);
  for (const [h, t] of Object.entries(p.headers ?? {})) {
    if (!HEADER_NAME.test(h)) problems.push(`${at}.headers.${h}: not a valid HTTP header name`);
    else if (RESERVED_HEADERS.has(h.toLowerCase())) problems.push(`${at}.headers.${h}: set by the gateway itself; choose another header`);
    problems.push(...templateProblems(`${at}.headers.${h}`, t));
  }
  for (const [e, t] of Object.entries(p.env ?? {})) {
    if (!ENV_NAME.test(e)) problems.push(`${at}.env.${e}: not a valid environment variable name`);
    problems.push(...templateProblems(`${at}.env.${e}`, t));
  }
  return problems;
}

function templateProblems(at: string, text: string): string[] {
  try {
    const t = compileTemplate(text);
    return t.fields.length === 0 ? [`${at}: the template uses no secret field ({{ .field }}); static values belong in servers[].headers or env`] : [];
  } catch (err) {
    if (err instanceof TemplateSyntaxError) return [`${at}: ${err.message}`];
    throw err;
  }
}

export function checkCredentialConfig(cfg: Omit<GatewayConfig, 'source'>): string[] {
  const problems: string[] = [];
  const profiles = cfg.credentials ?? {};
  for (const [name, p] of Object.entries(profiles)) problems.push(...checkProfile(name, p));
  const used = Object.keys(profiles).length > 0 || cfg.servers.some((s) => s.credentials);
  if (used && !cfg.vault) problems.push('vault: is required when credentials are configured');
  cfg.servers.forEach((s, i) => {
    const c = s.credentials;
    if (!c) return;
    const at = `servers[${i}].credentials`;
    const names = [...(c.default ? [c.default] : []), ...(c.allowed ?? [])];
    for (const n of names) {
      const p = profiles[n];
      if (!p) {
        problems.push(`${at}: no credential profile named '${n}'`);
        continue;
      }
      if (s.url && !p.headers) problems.push(`${at}: profile '${n}' has no headers, which an HTTP upstream needs`);
      if (!s.url && !p.env) problems.push(`${at}: profile '${n}' has no env, which a STDIO upstream needs`);
    }
    // A STDIO process receives its credential once, at spawn: there is no per-call choice to make.
    if (!s.url && (c.allowed ?? []).some((n) => n !== c.default)) {
      problems.push(`${at}.allowed: a STDIO upstream uses its default profile only (the credential is in the process environment)`);
    }
    if (!s.url && !c.default) problems.push(`${at}.default: is required for a STDIO upstream`);
  });
  return problems;
}
