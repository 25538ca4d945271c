// Signature verification against bundles signed by the real OPA CLI, and tampered copies of them.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { generateKeyPairSync } from 'node:crypto';
import tarStream from 'tar-stream';
import { readArchive } from './bundle.js';
import { loadVerificationKey, PolicyEngine, type VerificationConfig } from './index.js';
import { canonicalJson } from './canonical-json.js';

const opa = '.tools/bin/opa';
const dir = mkdtempSync(join(tmpdir(), 'pc-sig-'));

async function pack(files: Map<string, Buffer>): Promise<Buffer> {
  const p = tarStream.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => p.on('end', r));
  for (const [name, body] of files) p.entry({ name, size: body.length }, body);
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

function keyPair(name: string): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = join(dir, `${name}.pem`);
  const pub = join(dir, `${name}.pub.pem`);
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { priv, pub };
}

function build(out: string, extra: string[]): Buffer {
  execFileSync(opa, ['build', '-b', '-t', 'wasm', '-e', 'portcullis/visible', '-e', 'portcullis/decision', '-o', out, ...extra, 'policies']);
  return readFileSync(out);
}

describe('bundle signatures (OPA .signatures.json)', () => {
  let signed: Buffer;
  let scoped: Buffer;
  let unsigned: Buffer;
  let cfg: VerificationConfig;
  let other: { priv: string; pub: string };
  const engineWith = async (c: VerificationConfig) => new PolicyEngine({ timeoutMs: 1000, maxMemoryPages: 256, verifier: { config: c, key: await loadVerificationKey(c) } });

  before(() => {
    const k = keyPair('main');
    other = keyPair('other');
    writeFileSync(join(dir, 'claims.json'), JSON.stringify({ scope: 'write' }));
    signed = build(join(dir, 'signed.tar.gz'), ['--signing-key', k.priv]);
    scoped = build(join(dir, 'scoped.tar.gz'), ['--signing-key', k.priv, '--claims-file', join(dir, 'claims.json')]);
    unsigned = build(join(dir, 'unsigned.tar.gz'), []);
    cfg = { keyFile: k.pub, algorithm: 'RS256', keyId: 'default' };
  });

  it('accepts a bundle signed by opa build --signing-key', async () => {
    const e = await engineWith(cfg);
    await e.activate(signed);
    assert.ok(e.bundle);
  });

  const rejects: Array<{ note: string; bytes: () => Promise<Buffer> | Buffer; cfg?: () => VerificationConfig; error: RegExp }> = [
    { note: 'unsigned bundle', bytes: () => unsigned, error: /not signed/ },
    { note: 'wrong key', bytes: () => signed, cfg: () => ({ ...cfg, keyFile: other.pub }), error: /signature verification failed/ },
    { note: 'wrong scope', bytes: () => scoped, cfg: () => ({ ...cfg, scope: 'read' }), error: /scope mismatch/ },
    { note: 'algorithm not the configured one', bytes: () => signed, cfg: () => ({ ...cfg, algorithm: 'PS256' }), error: /signature verification failed/ },
    {
      note: 'one data value edited',
      bytes: async () => {
        const files = await readArchive(signed);
        const data = JSON.parse(files.get('/data.json')!.toString()) as { portcullis: { anonymous_roles: string[] } };
        data.portcullis.anonymous_roles = ['admin'];
        files.set('/data.json', Buffer.from(JSON.stringify(data)));
        return pack(files);
      },
      error: /digest mismatch for data.json/,
    },
    {
      note: 'a file added',
      bytes: async () => {
        const files = await readArchive(signed);
        files.set('/extra/data.json', Buffer.from('{"x":1}'));
        return pack(files);
      },
      error: /not included in bundle signature/,
    },
    {
      note: 'a file dropped',
      bytes: async () => {
        const files = await readArchive(signed);
        files.delete('/policies/tools.rego');
        return pack(files);
      },
      error: /specified in bundle signatures but not found/,
    },
  ];
  for (const r of rejects) {
    it(`rejects: ${r.note}, and the last good bundle keeps serving`, async () => {
      const e = await engineWith(r.cfg ? r.cfg() : cfg);
      if (!r.cfg) await e.activate(signed);
      const before = e.bundle?.generation;
      await assert.rejects(e.activate(await r.bytes()), r.error);
      assert.equal(e.bundle?.generation, before);
    });
  }

  it('a signed bundle without a configured key is refused', async () => {
    const e = new PolicyEngine({ timeoutMs: 1000, maxMemoryPages: 256 });
    await assert.rejects(e.activate(signed), /signed but no verification key/);
  });

  it('canonical JSON keeps number text, sorts by UTF-8 bytes and escapes as Go does', () => {
    assert.equal(canonicalJson('{ "b": 1.0, "a": [1e3, true, null], "\u00e9": "x\u2028<>&" }'), '{"a":[1e3,true,null],"b":1.0,"é":"x\\u2028<>&"}');
    assert.equal(canonicalJson('{"\uff61":1,"\ud83d\ude00":2}'), '{"｡":1,"😀":2}');
  });
});
