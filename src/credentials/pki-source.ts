/**
 * Client certificates for mTLS towards HTTP upstreams (servers[].tls): read from files once, or issued by Vault's
 * PKI secrets engine (<mount>/issue/<role>) and issued again at 2/3 of each certificate's lifetime, like a lease
 * replaced before it ends. Each new certificate is handed to `apply`, which swaps the upstream's connection pools;
 * calls in flight finish on the old connections. Logs carry the serial and expiry, never the private key.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../telemetry/logger.js';
import type { VaultClient } from './vault-client.js';

export interface UpstreamTls {
  /** Applies the first certificate (a Vault failure is logged and retried in the background, not thrown). */
  start(): Promise<void>;
  stop(): void;
  /** Serial of the certificate in use (vaultPki), for logs and tests. */
  readonly serial: string | undefined;
}

export interface UpstreamTlsOptions {
  server: ServerConfig;
  vault?: VaultClient;
  log: Logger;
  apply: (tls: ConnectionOptions) => void;
  /** Fraction of a certificate's lifetime after which the next one is issued. */
  renewFraction?: number;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

export function createUpstreamTls(opts: UpstreamTlsOptions): UpstreamTls {
  const { server, log, apply } = opts;
  const tls = server.tls!;
  // Files are read here, when the gateway is built: a missing one is a config problem reported before anything starts.
  const ca = tls.caFile ? readFileSync(tls.caFile, 'utf8') : undefined;
  const c = tls.clientCert;
  const clientFiles = c?.certFile && c.keyFile ? { cert: readFileSync(c.certFile, 'utf8'), key: readFileSync(c.keyFile, 'utf8') } : {};
  const pki = tls.clientCert?.vaultPki;
  const fraction = opts.renewFraction ?? 2 / 3;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let serial: string | undefined;
  let expiresAt = 0;
  let failures = 0;

  function schedule(ms: number): void {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => void issue(), ms);
    timer.unref();
  }

  async function issue(): Promise<void> {
    if (!pki || !opts.vault) return;
    const path = `${pki.mount}/issue/${pki.role}`;
    try {
      const d = await opts.vault.write(path, { common_name: pki.commonName, ttl: pki.ttl });
      if (stopped) return;
      const cert = String(d.certificate ?? '');
      const key = String(d.private_key ?? '');
      if (!cert || !key) throw new Error(`${path} returned no certificate`);
      const chain = Array.isArray(d.ca_chain) ? (d.ca_chain as string[]) : typeof d.issuing_ca === 'string' ? [d.issuing_ca] : [];
      // The PKI's own CA signs the upstream's certificate too unless caFile names another.
      apply({ ca: ca ?? (typeof d.issuing_ca === 'string' ? d.issuing_ca : undefined), cert: [cert, ...chain].join('\n'), key });
      const previous = serial;
      serial = String(d.serial_number ?? '');
      expiresAt = Number(d.expiration ?? 0) * 1000;
      failures = 0;
      const lifetime = Math.max(0, expiresAt - Date.now());
      log.info(previous ? 'upstream client certificate re-issued' : 'upstream client certificate issued', {
        server: server.id,
        serial,
        previousSerial: previous,
        expiresAt: new Date(expiresAt).toISOString(),
        reissueInSeconds: Math.round((lifetime * fraction) / 1000),
      });
      schedule(Math.max(RETRY_MIN_MS, lifetime * fraction));
    } catch (err) {
      failures += 1;
      const left = expiresAt - Date.now();
      // Retry sooner than the current certificate ends, backing off while there is room.
      const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures - 1, 5), left > 0 ? Math.max(RETRY_MIN_MS, left / 4) : RETRY_MAX_MS);
      log.warn('upstream client certificate could not be issued', {
        server: server.id,
        path,
        error: (err as Error).message,
        currentSerial: serial,
        retryInMs: Math.round(wait),
      });
      schedule(wait);
    }
  }

  return {
    async start() {
      stopped = false;
      if (pki) {
        await issue();
        return;
      }
      apply({ ca, ...clientFiles });
      log.info('upstream tls configured', { server: server.id, clientCertificate: c?.certFile ? 'file' : 'none' });
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    get serial() {
      return serial;
    },
  };
}
