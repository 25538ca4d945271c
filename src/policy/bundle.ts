/** Reads an OPA bundle (.tar.gz from `opa build -t wasm`) into memory, refusing unsafe archive entries. */
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { verifyBundle, type VerificationConfig } from './bundle-signature.js';
import type { CryptoKey, KeyObject } from 'jose';

export interface Verifier {
  config: VerificationConfig;
  key: CryptoKey | KeyObject;
}

export interface Bundle {
  wasm: Buffer;
  data: Record<string, unknown>;
  revision: string;
  /** Paths of every file in the archive. */
  files: string[];
}

const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

export class BundleError extends Error {
  override name = 'BundleError';
}

/** Entries as a map of normalised path ("/policy.wasm") to bytes. */
export async function readArchive(gz: Buffer): Promise<Map<string, Buffer>> {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: 256 * 1024 * 1024 });
  } catch (err) {
    throw new BundleError(`not a gzip archive: ${(err as Error).message}`);
  }
  const extract = tarStream.extract();
  const files = new Map<string, Buffer>();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const name = header.name;
      // A bundle is data: links, absolute paths and parent references have no business in it.
      if (header.type !== 'file' && header.type !== 'directory') {
        stream.resume();
        return reject(new BundleError(`entry ${name}: type ${header.type} not allowed`));
      }
      // opa build writes entries as "/data.json"; a leading slash is relative to the bundle root, not the host.
      const norm = '/' + name.replace(/^\.?\/+/, '');
      if (norm.split('/').includes('..') || name.includes('\\')) {
        stream.resume();
        return reject(new BundleError(`entry ${name}: unsafe path`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: unknown) => {
        const c = chunk as Buffer;
        size += c.length;
        if (size > MAX_ENTRY_BYTES) reject(new BundleError(`entry ${name}: too large`));
        chunks.push(c);
      });
      stream.on('end', () => {
        if (header.type === 'file') files.set(norm, Buffer.concat(chunks));
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', (e: Error) => reject(new BundleError(`not a tar archive: ${e.message}`)));
  });
  Readable.from([tar]).pipe(extract);
  await done;
  return files;
}

/** Merge every data.json into one document at the path of its directory, as OPA does. */
function mergeData(files: Map<string, Buffer>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, bytes] of files) {
    if (!path.endsWith('/data.json')) continue;
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new BundleError(`${path}: invalid JSON (${(err as Error).message})`);
    }
    const segments = path.split('/').slice(1, -1);
    let node = root;
    for (const s of segments) {
      const next = node[s];
      if (next === undefined) node[s] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new BundleError(`${path}: conflicts with data at ${s}`);
      node = node[s] as Record<string, unknown>;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      if (segments.length === 0) throw new BundleError(`${path}: root data must be an object`);
    }
    Object.assign(node, doc as Record<string, unknown>);
  }
  return root;
}

/** Unpacks, verifies the signature when one is required (or present), and extracts the policy and its data. */
export async function parseBundle(gz: Buffer, verifier?: Verifier): Promise<Bundle> {
  const files = await readArchive(gz);
  await verifyBundle(files, verifier?.config, verifier?.key);
  let revision = '';
  const manifest = files.get('/.manifest');
  let wasmPath = '/policy.wasm';
  if (manifest) {
    let m: { revision?: unknown; wasm?: Array<{ module?: string }> };
    try {
      m = JSON.parse(manifest.toString('utf8')) as typeof m;
    } catch (err) {
      throw new BundleError(`.manifest: invalid JSON (${(err as Error).message})`);
    }
    if (typeof m.revision === 'string') revision = m.revision;
    const mod = m.wasm?.[0]?.module;
    if (typeof mod === 'string') wasmPath = mod.startsWith('/') ? mod : `/${mod}`;
  }
  const wasm = files.get(wasmPath);
  if (!wasm) throw new BundleError(`no ${wasmPath} in bundle (build it with opa build -t wasm)`);
  return { wasm, data: mergeData(files), revision, files: [...files.keys()] };
}
