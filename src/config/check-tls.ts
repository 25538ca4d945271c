/** The TLS rules JSON Schema cannot express, and path resolution of every TLS setting (listener and upstreams). */
import { isAbsolute, resolve } from 'node:path';
import type { GatewayConfig } from './config.js';

/**
 * Checks the TLS settings that the schema cannot express and resolves their relative paths against the config
 * file's directory. Called by buildConfig before the config is frozen; returns one message per problem.
 */
export function checkTlsConfig(cfg: Omit<GatewayConfig, 'source'>, baseDir: string): string[] {
  const problems: string[] = [];
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const t = cfg.listen.tls;
  if (t) {
    t.certFile = abs(t.certFile);
    t.keyFile = abs(t.keyFile);
    if (t.clientCaFile) t.clientCaFile = abs(t.clientCaFile);
    if (t.requireClientCert && !t.clientCaFile) problems.push('listen.tls.requireClientCert: needs listen.tls.clientCaFile');
  }
  if (cfg.auth.clientCertificate && !t?.clientCaFile) problems.push('auth.clientCertificate: needs listen.tls.clientCaFile');
  cfg.servers.forEach((s, i) => {
    if (!s.tls) return;
    if (!s.url?.startsWith('https://')) problems.push(`servers[${i}].tls: only for an https:// url`);
    if (s.tls.caFile) s.tls.caFile = abs(s.tls.caFile);
    const c = s.tls.clientCert;
    if (c?.certFile) c.certFile = abs(c.certFile);
    if (c?.keyFile) c.keyFile = abs(c.keyFile);
    if (c?.vaultPki && !cfg.vault) problems.push(`servers[${i}].tls.clientCert.vaultPki: needs the vault section`);
  });
  return problems;
}
