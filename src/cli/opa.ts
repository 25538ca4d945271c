/** Runs the pinned OPA CLI that scripts/install-tools.sh puts in .tools/bin. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function opaBinary(): string {
  if (process.env.OPA_BIN) return process.env.OPA_BIN;
  const local = join(PACKAGE_ROOT, '.tools', 'bin', 'opa');
  if (existsSync(local)) return local;
  return 'opa';
}

export function runOpa(args: string[], capture = false): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(opaBinary(), args, { encoding: 'utf8', stdio: capture ? 'pipe' : 'inherit', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    const hint = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (run scripts/install-tools.sh to install the pinned OPA CLI)' : '';
    return { status: 127, stdout: '', stderr: `cannot run ${opaBinary()}: ${r.error.message}${hint}` };
  }
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
