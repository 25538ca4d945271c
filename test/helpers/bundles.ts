/** Policy bundles for tests: build a Rego dir with the real CLI (and so the real OPA), write Rego, swap files atomically. */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { CLI, ROOT } from './paths.js';

/** `node dist/main.js policy build <dir> -o <out>`; throws with OPA's output on failure. */
export function buildBundle(policyDir: string, out: string, revision?: string): string {
  const args = [CLI, 'policy', 'build', policyDir, '-o', out];
  if (revision) args.push('--revision', revision);
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`policy build ${policyDir} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return out;
}

/** Writes `files` (name → Rego/JSON text) into a new directory and returns it. */
export function writePolicyDir(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Copies a policy directory (e.g. the example set) and adds or overrides files. */
export function extendPolicyDir(src: string, dest: string, files: Record<string, string>): string {
  cpSync(src, dest, { recursive: true });
  return writePolicyDir(dest, files);
}

/** Replaces `dest` the way the README asks: write a sibling temp file, then rename it over. */
export function replaceAtomically(dest: string, bytes: Buffer | string): void {
  const tmp = join(dirname(dest), `.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(tmp, bytes);
  renameSync(tmp, dest);
}

/** A gzip'd tar with the given entries (for bundles that are well-formed archives but bad bundles). */
export async function makeTarGz(entries: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const [name, body] of Object.entries(entries)) pack.entry({ name }, typeof body === 'string' ? Buffer.from(body) : body);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** A minimal Rego policy: every tool visible; `decisionRules` is appended (it must define `decision`). */
export function regoPolicy(decisionRules: string): string {
  return `package portcullis

visible contains tool.key if some tool in input.tools

default decision := {"outcome": "deny", "reasons": ["no rule allowed this call"]}

${decisionRules}
`;
}
