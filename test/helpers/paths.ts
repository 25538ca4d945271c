/** Absolute paths of the project pieces the integration tests run: the built CLI, fixtures, policies, OPA. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI; PORTCULLIS_CLI points the suite at another build (e.g. a snapshot) without touching dist/. */
export const CLI = process.env.PORTCULLIS_CLI ? resolve(process.env.PORTCULLIS_CLI) : join(ROOT, 'dist', 'main.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const HTTP_FIXTURE = join(FIXTURES, 'upstream-http.mjs');
export const STDIO_FIXTURE = join(FIXTURES, 'upstream-stdio.mjs');
export const EXAMPLE_POLICIES = join(ROOT, 'policies');
export const ALLOW_ALL_POLICIES = join(ROOT, 'policies-allow-all');

/** A fresh temp dir; `cleanup()` removes it (call it in `after`). */
export function tempDir(prefix = 'portcullis-it-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
