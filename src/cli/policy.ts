/** `portcullis policy test|build`: the OPA CLI with the entrypoints and the coverage floor the gateway expects. */
import { mkdirSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { ENTRYPOINT_DECISION, ENTRYPOINT_VISIBLE, providedBuiltins } from '../policy/index.js';
import { readArchive } from '../policy/bundle.js';
import { missingBuiltins, requiredBuiltins } from '../policy/required-builtins.js';
import { runOpa } from './opa.js';

export function policyTest(dirs: string[], floor: number): number {
  const r = runOpa(['test', '--coverage', '--format', 'json', ...dirs], true);
  if (r.status === 127) {
    process.stderr.write(r.stderr + '\n');
    return 127;
  }
  let report: { coverage?: number; files?: Record<string, { coverage?: number }> };
  try {
    report = JSON.parse(r.stdout) as typeof report;
  } catch {
    // Failing tests make opa print a text report instead; show it as it is.
    const v = runOpa(['test', '-v', ...dirs], true);
    process.stdout.write(v.stdout);
    process.stderr.write(v.stderr || r.stderr);
    return 1;
  }
  const counts = runOpa(['test', '--format', 'json', ...dirs], true);
  let passed = 0;
  let failed = 0;
  try {
    for (const t of JSON.parse(counts.stdout) as Array<{ fail?: boolean; error?: unknown; skip?: boolean }>) {
      if (t.skip) continue;
      if (t.fail || t.error) failed++;
      else passed++;
    }
  } catch {
    failed++;
  }
  const coverage = report.coverage ?? 0;
  process.stdout.write(`opa test: ${passed} passed, ${failed} failed; coverage ${coverage.toFixed(2)}% (floor ${floor}%)\n`);
  if (failed > 0 || counts.status !== 0) return 1;
  if (coverage < floor) {
    process.stderr.write(`coverage ${coverage.toFixed(2)}% is below the floor of ${floor}%\n`);
    for (const [file, f] of Object.entries(report.files ?? {})) process.stderr.write(`  ${file}: ${(f.coverage ?? 0).toFixed(1)}%\n`);
    return 1;
  }
  return 0;
}

export interface SigningOptions {
  signingKey?: string;
  signingAlg?: string;
  claimsFile?: string;
}

export interface BuildOptions extends SigningOptions {
  /** Write the bundle even if it calls host builtins the gateway does not provide. */
  allowMissingBuiltins?: boolean;
}

export async function policyBuild(dir: string, out: string, revision?: string, opts: BuildOptions = {}): Promise<number> {
  if (!existsSync(dir)) {
    process.stderr.write(`policy directory ${dir} does not exist\n`);
    return 2;
  }
  mkdirSync(dirname(resolve(out)), { recursive: true });
  // opa build writes its output in place; a gateway watching `out` would read the half-written file and reject it.
  // So build into a sibling temp file (same directory, so same file system) and rename it over `out` at the end.
  const tmp = join(dirname(resolve(out)), `.${basename(out)}.${process.pid}.tmp`);
  try {
    const code = await buildTo(dir, tmp, revision, opts);
    if (code !== 0) return code;
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  process.stdout.write(`built ${out} (entrypoints ${ENTRYPOINT_VISIBLE}, ${ENTRYPOINT_DECISION})\n`);
  return 0;
}

async function buildTo(dir: string, out: string, revision: string | undefined, signing: BuildOptions): Promise<number> {
  // Bundle mode (-b): the directory is the bundle root, which is what signing requires.
  const args = ['build', '-b', '-t', 'wasm', '-e', ENTRYPOINT_VISIBLE, '-e', ENTRYPOINT_DECISION, '-o', out];
  if (revision) args.push('--revision', revision);
  if (signing.signingKey) args.push('--signing-key', signing.signingKey);
  if (signing.signingAlg) args.push('--signing-alg', signing.signingAlg);
  if (signing.claimsFile) args.push('--claims-file', signing.claimsFile);
  args.push(dir);
  const r = runOpa(args, true);
  if (r.status !== 0) {
    process.stderr.write(r.stderr || r.stdout);
    return r.status;
  }
  return checkBuiltins(out, signing.allowMissingBuiltins === true);
}

/**
 * OPA compiles a call to a builtin that opa-wasm cannot run (http.send, time.now_ns, ...) without complaint; the
 * gateway would then fail every evaluation that reaches it. Refuse such a bundle unless told otherwise.
 */
async function checkBuiltins(bundleFile: string, allow: boolean): Promise<number> {
  let missing: string[];
  try {
    // Not parseBundle: a signed bundle has no verification key here, and only the module matters.
    const wasm = (await readArchive(readFileSync(bundleFile))).get('/policy.wasm');
    if (!wasm) throw new Error('no /policy.wasm in the bundle');
    missing = missingBuiltins(await requiredBuiltins(wasm), providedBuiltins());
  } catch (err) {
    process.stderr.write(`cannot inspect the built bundle: ${(err as Error).message}\n`);
    return 1;
  }
  if (missing.length === 0) return 0;
  const names = missing.join(', ');
  if (allow) {
    process.stderr.write(`WARNING: the policy calls builtins the gateway does not provide: ${names}. Every evaluation that reaches one fails closed (-32012). See policies/README.md §7.\n`);
    return 0;
  }
  process.stderr.write(
    `the policy calls builtins the gateway does not provide: ${names}\n` +
      `every evaluation that reaches one would fail closed (-32012); see policies/README.md §7 for what is available.\n` +
      `bundle not written; pass --allow-missing-builtins to write it anyway.\n`,
  );
  return 1;
}

export function policyCommand(setExit: (code: number) => void): Command {
  const cmd = new Command('policy').description('test and build Rego policy bundles with the pinned OPA CLI');
  cmd
    .command('test')
    .description('run opa test --coverage over the policy and test directories; fails below the coverage floor')
    .argument('[dirs...]', 'directories with policies and Rego tests', ['policies', 'opa-tests'])
    .option('--coverage-floor <percent>', 'minimum coverage', '90')
    .action((dirs: string[], o: { coverageFloor: string }) => setExit(policyTest(dirs, Number(o.coverageFloor))));
  cmd
    .command('build')
    .description(`build a WASM bundle with entrypoints ${ENTRYPOINT_VISIBLE} and ${ENTRYPOINT_DECISION}`)
    .argument('[dir]', 'policy directory', 'policies')
    .option('-o, --out <file>', 'bundle file to write', 'bundles/policy.tar.gz')
    .option('--revision <rev>', 'revision recorded in the bundle manifest (reported in every decision)')
    .option('--signing-key <file>', 'sign the bundle with this private key (PEM) or HMAC secret')
    .option('--signing-alg <alg>', 'signature algorithm (default RS256)')
    .option('--claims-file <file>', 'extra JWT claims for the signature, e.g. {"scope": "write"}')
    .option('--allow-missing-builtins', 'write the bundle even if it calls builtins the gateway does not provide (those rules then fail closed)')
    .action(async (dir: string, o: { out: string; revision?: string } & BuildOptions) => setExit(await policyBuild(dir, o.out, o.revision, o)));
  return cmd;
}
