/**
 * A real OpenBao dev server with only the PKI secrets engine: a root CA generated inside Vault at test time and a
 * role that issues short-lived server and client certificates. No private key is ever written outside a temp dir.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './postgres.js';
import { ROOT } from './paths.js';
import { spawnManaged, stopManaged, type Managed } from './process.js';

export interface IssuedCert {
  certificate: string;
  privateKey: string;
  issuingCa: string;
  serial: string;
}

export interface PkiVault {
  addr: string;
  dir: string;
  /** A file holding the root token, for the gateway's `vault.auth: {method: token, tokenFile}`. */
  tokenFile: string;
  /** PEM of the root CA (also written to caFile). */
  caPem: string;
  caFile: string;
  mount: string;
  role: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  issue(commonName: string, opts?: { ttl?: string; ipSans?: string }): Promise<IssuedCert>;
  /** Writes cert/key PEMs of an issued certificate into the temp dir; returns their paths. */
  writePair(name: string, c: IssuedCert): { certFile: string; keyFile: string };
  destroy(): Promise<void>;
}

export async function startPkiVault(opts: { role?: string; maxTtl?: string } = {}): Promise<PkiVault> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-it-pki-'));
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const tokenFile = join(dir, 'root-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const addr = `http://127.0.0.1:${port}`;
  // The root token goes through the environment, not argv.
  const proc: Managed = spawnManaged(join(ROOT, '.tools', 'bin', 'bao'), ['server', '-dev', '-dev-no-store-token', `-dev-listen-address=127.0.0.1:${port}`], {
    env: { ...process.env, BAO_DEV_ROOT_TOKEN_ID: token, HOME: dir },
  });
  const api: PkiVault['api'] = async (method, path, body) => {
    const res = await fetch(`${addr}/v1/${path}`, {
      method,
      headers: { 'X-Vault-Token': token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await api('GET', 'sys/health')).status === 200) break;
    } catch {
      // not up yet
    }
    if (proc.hasExited() || Date.now() > deadline) {
      await stopManaged(proc, 500);
      throw new Error(`openbao did not start:\n${proc.stdout()}\n${proc.stderr()}`);
    }
    await delay(100);
  }
  const mount = 'pki';
  const role = opts.role ?? 'portcullis-client';
  const must = async (method: string, path: string, body?: unknown) => {
    const r = await api(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  await must('POST', `sys/mounts/${mount}`, { type: 'pki', config: { max_lease_ttl: '24h' } });
  const root = await must('POST', `${mount}/root/generate/internal`, { common_name: 'Portcullis Test CA', ttl: '24h', key_type: 'ec', key_bits: 256 });
  const caPem = String(root.data.certificate);
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, caPem);
  await must('POST', `${mount}/roles/${role}`, {
    allow_any_name: true,
    enforce_hostnames: false,
    allow_ip_sans: true,
    server_flag: true,
    client_flag: true,
    key_type: 'ec',
    key_bits: 256,
    max_ttl: opts.maxTtl ?? '1h',
    // Certificates valid from a few seconds ago: no flakiness from clock granularity.
    not_before_duration: '5s',
  });
  return {
    addr,
    dir,
    tokenFile,
    caPem,
    caFile,
    mount,
    role,
    api,
    async issue(commonName, o = {}) {
      const r = await must('POST', `${mount}/issue/${role}`, { common_name: commonName, ttl: o.ttl ?? '1h', ...(o.ipSans ? { ip_sans: o.ipSans } : {}) });
      return { certificate: r.data.certificate, privateKey: r.data.private_key, issuingCa: r.data.issuing_ca, serial: r.data.serial_number };
    },
    writePair(name, c) {
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      writeFileSync(certFile, c.certificate);
      writeFileSync(keyFile, c.privateKey, { mode: 0o600 });
      return { certFile, keyFile };
    },
    async destroy() {
      await stopManaged(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
