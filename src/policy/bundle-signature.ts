/**
 * Verifies an OPA bundle signature (.signatures.json) the way OPA does (v1/bundle/verify.go): exactly one JWS,
 * checked with the configured key and algorithm (never the token header's choice), the configured scope, and a
 * digest for every file in the bundle, with every listed file present.
 */
import { createHash, createSecretKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compactVerify, importSPKI, type CryptoKey, type KeyObject } from 'jose';
import { parse as parseYaml } from 'yaml';
import { canonicalJson } from './canonical-json.js';

export interface VerificationConfig {
  keyFile: string;
  algorithm: string;
  keyId?: string;
  scope?: string;
}

export class SignatureError extends Error {
  override name = 'SignatureError';
}

// OPA's hash names → Node's. MD5 and SHA-1 are accepted by OPA but refused here: a collision could swap a file.
const HASHES: Record<string, string> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

export const SIGNATURES_FILE = '/.signatures.json';

function isStructured(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base === 'data.json' || base === 'data.yaml' || base === 'data.yml' || base === '.manifest';
}

function digest(path: string, bytes: Buffer, algorithm: string): string {
  const node = HASHES[algorithm];
  if (!node) throw new SignatureError(`file ${path}: hash algorithm ${algorithm} not accepted`);
  let data: Buffer | string = bytes;
  if (isStructured(path)) {
    const text = bytes.toString('utf8');
    data = path.endsWith('.yaml') || path.endsWith('.yml') ? canonicalJson(JSON.stringify(parseYaml(text))) : canonicalJson(text);
  }
  return createHash(node).update(data).digest('hex');
}

export async function loadVerificationKey(cfg: VerificationConfig): Promise<CryptoKey | KeyObject> {
  const raw = readFileSync(cfg.keyFile, 'utf8');
  if (cfg.algorithm.startsWith('HS')) return createSecretKey(Buffer.from(raw.trim(), 'utf8'));
  return importSPKI(raw, cfg.algorithm);
}

/** Throws SignatureError naming what failed; returns quietly when every check passes. */
export async function verifyBundle(files: Map<string, Buffer>, cfg: VerificationConfig | undefined, key: CryptoKey | KeyObject | undefined): Promise<void> {
  const sigFile = files.get(SIGNATURES_FILE);
  if (!cfg || !key) {
    if (sigFile) throw new SignatureError('bundle is signed but no verification key is configured (policy.verification)');
    return;
  }
  if (!sigFile) throw new SignatureError('bundle is not signed (no .signatures.json) and policy.verification requires it');
  let sigs: { signatures?: unknown };
  try {
    sigs = JSON.parse(sigFile.toString('utf8')) as { signatures?: unknown };
  } catch {
    throw new SignatureError('.signatures.json is not valid JSON');
  }
  if (!Array.isArray(sigs.signatures) || sigs.signatures.length !== 1 || typeof sigs.signatures[0] !== 'string') {
    throw new SignatureError('.signatures.json must hold exactly one JWT');
  }
  let payload: { files?: Array<{ name?: unknown; hash?: unknown; algorithm?: unknown }>; scope?: unknown };
  try {
    const { payload: bytes, protectedHeader } = await compactVerify(sigs.signatures[0], key, { algorithms: [cfg.algorithm] });
    if (cfg.keyId && protectedHeader.kid !== undefined && protectedHeader.kid !== cfg.keyId) {
      throw new SignatureError(`signature key id ${protectedHeader.kid} is not the configured ${cfg.keyId}`);
    }
    payload = JSON.parse(new TextDecoder().decode(bytes)) as typeof payload;
  } catch (err) {
    if (err instanceof SignatureError) throw err;
    throw new SignatureError(`signature verification failed: ${(err as Error).message}`);
  }
  if (cfg.scope !== undefined && payload.scope !== cfg.scope) throw new SignatureError('scope mismatch');
  const listed = new Map<string, { hash: string; algorithm: string }>();
  for (const f of payload.files ?? []) {
    if (typeof f.name !== 'string' || typeof f.hash !== 'string' || typeof f.algorithm !== 'string') {
      throw new SignatureError('signature lists a malformed file entry');
    }
    listed.set('/' + f.name.replace(/^\/+/, ''), { hash: f.hash, algorithm: f.algorithm });
  }
  for (const [path, bytes] of files) {
    if (path === SIGNATURES_FILE) continue;
    const want = listed.get(path);
    if (!want) throw new SignatureError(`file ${path.slice(1)} not included in bundle signature`);
    if (digest(path, bytes, want.algorithm) !== want.hash.toLowerCase()) throw new SignatureError(`digest mismatch for ${path.slice(1)}`);
    listed.delete(path);
  }
  if (listed.size > 0) {
    throw new SignatureError(`file(s) ${[...listed.keys()].map((p) => p.slice(1)).join(', ')} specified in bundle signatures but not found in the target bundle`);
  }
}
