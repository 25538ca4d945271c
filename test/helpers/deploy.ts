/**
 * The deployment tools for tests: helm and kubeconform from .tools/ (scripts/install-helm.sh), rendering the chart,
 * and reading the rendered manifests. Every tool runs as a real process; nothing here talks to a cluster.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './paths.js';

export const CHART = join(ROOT, 'deploy', 'helm', 'portcullis');
export const EVERYTHING_ON = join(CHART, 'ci', 'everything-on-values.yaml');
const TOOLS = join(ROOT, '.tools');
export const HELM = join(TOOLS, 'bin', 'helm');
export const KUBECONFORM = join(TOOLS, 'bin', 'kubeconform');
/** <version>-standalone-strict/<kind>-<group>-<version>.json, as kubeconform's template below expects. */
export const K8S_SCHEMAS = join(TOOLS, 'k8s-schemas');
/** The oldest (Chart.yaml kubeVersion) and the newest Kubernetes release the chart is checked against. */
export const K8S_VERSIONS = ['1.25.0', '1.37.0'];

/** Fails with the way to get the tools, rather than skipping: a check that did not run must not look green. */
export function requireTools(): void {
  for (const bin of [HELM, KUBECONFORM]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash scripts/install-helm.sh`);
  }
  for (const v of K8S_VERSIONS) {
    if (!existsSync(join(K8S_SCHEMAS, `v${v}-standalone-strict`, 'deployment-apps-v1.json'))) {
      throw new Error(`Kubernetes ${v} schemas are missing under ${K8S_SCHEMAS}: run bash scripts/install-helm.sh`);
    }
  }
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd: ROOT, encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
        resolve({ code: err ? ((err as { code: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

// helm keeps a cache, config and data dir; point them at a temp dir so a test run leaves nothing in $HOME.
const helmHome = mkdtempSync(join(tmpdir(), 'portcullis-helm-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));
const helmEnv: NodeJS.ProcessEnv = {
  ...process.env,
  HELM_CACHE_HOME: join(helmHome, 'cache'),
  HELM_CONFIG_HOME: join(helmHome, 'config'),
  HELM_DATA_HOME: join(helmHome, 'data'),
};

export function helm(args: string[]): Promise<Run> {
  return run(HELM, args, { env: helmEnv });
}

/** `helm template` of the chart as release "portcullis" in namespace "gateway". */
export function helmTemplate(opts: { values?: string[]; set?: string[]; setJson?: string[]; kubeVersion?: string } = {}): Promise<Run> {
  const args = ['template', 'portcullis', CHART, '--namespace', 'gateway', '--kube-version', opts.kubeVersion ?? K8S_VERSIONS.at(-1)!];
  for (const f of opts.values ?? []) args.push('--values', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  for (const s of opts.setJson ?? []) args.push('--set-json', s);
  return helm(args);
}

/** NOTES.txt as `helm install --dry-run=client` prints it (client side only: no cluster is contacted). */
export async function helmNotes(opts: { values?: string[]; setJson?: string[] } = {}): Promise<string> {
  const args = ['install', 'portcullis', CHART, '--namespace', 'gateway', '--dry-run=client'];
  for (const f of opts.values ?? []) args.push('--values', f);
  for (const s of opts.setJson ?? []) args.push('--set-json', s);
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm install --dry-run=client failed:\n${r.stderr}`);
  const at = r.stdout.indexOf('\nNOTES:\n');
  if (at < 0) throw new Error('no NOTES in the dry-run output');
  return r.stdout.slice(at + 8);
}

export interface KubeconformSummary {
  valid: number;
  invalid: number;
  errors: number;
  skipped: number;
}

/** kubeconform -strict on a multi-document YAML, offline, against the installed schemas of one Kubernetes release. */
export async function kubeconform(manifests: string, kubernetesVersion: string): Promise<Run & { summary: KubeconformSummary }> {
  const r = await run(
    KUBECONFORM,
    [
      '-strict',
      '-summary',
      '-output', 'json',
      '-kubernetes-version', kubernetesVersion,
      '-schema-location', `${K8S_SCHEMAS}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
      '-',
    ],
    { input: manifests },
  );
  const parsed = JSON.parse(r.stdout) as { summary: KubeconformSummary };
  return { ...r, summary: parsed.summary };
}

// Rendered manifests are plain JSON-shaped YAML; `any` keeps the structural assertions readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Manifest = Record<string, any>;

export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const out: Manifest[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
    const v = d.toJS() as Manifest | null;
    if (v) out.push(v);
  }
  return out;
}

export function byKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

export function one(manifests: Manifest[], kind: string): Manifest {
  const found = byKind(manifests, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}
