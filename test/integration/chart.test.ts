// The Helm chart (deploy/helm/portcullis): helm lint, helm template with the default values and with everything on,
// kubeconform -strict against the Kubernetes schemas of the oldest and newest supported release, the structure the
// gateway needs (security context, probes, shutdown timing, volumes, secrets), and the rendered config accepted by
// `portcullis validate` and served by the real gateway on a read-only root filesystem as the image's non-root user.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { runCli } from '../helpers/gateway.js';
import {
  EVERYTHING_ON,
  K8S_VERSIONS,
  byKind,
  helm,
  helmNotes,
  helmTemplate,
  kubeconform,
  one,
  parseManifests,
  requireTools,
  run,
  CHART,
  type Manifest,
} from '../helpers/deploy.js';
import { CLI, EXAMPLE_POLICIES, tempDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { readOnlyRootGateway } from '../helpers/readonly-root.js';

const VALUES = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Manifest;
const ALL_ON = parseYaml(readFileSync(EVERYTHING_ON, 'utf8')) as Manifest;

interface Rendered {
  text: string;
  manifests: Manifest[];
  deployment: Manifest;
  pod: Manifest;
  container: Manifest;
  config: Manifest;
  configText: string;
}

async function render(values: string[]): Promise<Rendered> {
  const r = await helmTemplate({ values });
  assert.equal(r.code, 0, `helm template failed:\n${r.stderr}`);
  const manifests = parseManifests(r.stdout);
  const deployment = one(manifests, 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: Manifest) => c.name === 'portcullis');
  const configText = one(manifests, 'ConfigMap').data['portcullis.yaml'] as string;
  return { text: r.stdout, manifests, deployment, pod, container, config: parseYaml(configText) as Manifest, configText };
}

/** Every environment variable name a config refers to (fields ending in Env, and decisionLogs.headersEnv values). */
function envRefs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => envRefs(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'headersEnv' && x && typeof x === 'object') out.push(...(Object.values(x) as string[]));
      else if (k.endsWith('Env') && typeof x === 'string') out.push(x);
      else envRefs(x, out);
    }
  }
  return out;
}

function mountFor(container: Manifest, path: string): Manifest | undefined {
  // The longest mount path that contains `path`.
  return (container.volumeMounts as Manifest[])
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

describe('Helm chart', () => {
  const scope = new Scope();
  let dir: string;
  let base: Rendered;
  let full: Rendered;
  let revA: string;
  let revB: string;

  before(async () => {
    requireTools();
    const t = tempDir();
    dir = t.dir;
    scope.defer(null, t.cleanup);
    // Two revisions of the example policy, for the served-config tests (built alongside the renders: OPA is slow).
    const build = async (rev: string) => {
      const out = join(dir, `${rev}.tar.gz`);
      const r = await runCli(['policy', 'build', EXAMPLE_POLICIES, '-o', out, '--revision', rev], 120_000);
      assert.equal(r.code, 0, r.stderr);
      return out;
    };
    [base, full, revA, revB] = await Promise.all([render([]), render([EVERYTHING_ON]), build('rev-a'), build('rev-b')]);
  });
  after(() => scope.close());

  it('helm lint --strict passes with the default values and with everything on', async () => {
    for (const extra of [[], ['--values', EVERYTHING_ON]]) {
      const r = await helm(['lint', '--strict', CHART, '--kube-version', K8S_VERSIONS.at(-1)!, ...extra]);
      assert.equal(r.code, 0, `helm lint ${extra.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  for (const version of K8S_VERSIONS) {
    it(`kubeconform -strict accepts every rendered object for Kubernetes ${version}`, async () => {
      for (const [name, values] of [['default', []], ['everything on', [EVERYTHING_ON]]] as const) {
        const r = await helmTemplate({ values: [...values], kubeVersion: version });
        assert.equal(r.code, 0, r.stderr);
        const count = parseManifests(r.stdout).length;
        const k = await kubeconform(r.stdout, version);
        assert.equal(k.code, 0, `${name}: ${k.stdout}\n${k.stderr}`);
        // Skipped would mean "no schema found": every object must actually have been checked.
        assert.deepEqual(k.summary, { valid: count, invalid: 0, errors: 0, skipped: 0 }, `${name}: ${k.stdout}`);
      }
    });
  }

  it('kubeconform -strict rejects an unknown field and a wrong type (the schemas are really applied)', async () => {
    const d = structuredClone(base.deployment);
    d.spec.template.spec.containers[0].readOnlyRootFilesytem = true; // misspelt
    d.spec.replicas = 'two';
    const k = await kubeconform(stringify(d), K8S_VERSIONS[0]!);
    assert.notEqual(k.code, 0);
    assert.equal(k.summary.invalid, 1, k.stdout);
    assert.match(k.stdout, /readOnlyRootFilesytem/);
    assert.match(k.stdout, /replicas/);
  });

  it('renders the expected objects: HPA only when autoscaling is on, replicas left to it then', () => {
    const kinds = (r: Rendered) => r.manifests.map((m) => m.kind).sort();
    assert.deepEqual(kinds(base), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    assert.deepEqual(kinds(full), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    assert.equal(base.deployment.spec.replicas, VALUES.replicaCount);
    assert.equal(full.deployment.spec.replicas, undefined, 'the HPA owns the replica count');
    const hpa = one(full.manifests, 'HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: full.deployment.metadata.name });
    assert.equal(hpa.spec.minReplicas, 3);
    assert.deepEqual(hpa.spec.metrics.map((m: Manifest) => m.resource.name), ['cpu', 'memory']);
    const pdb = one(full.manifests, 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec, { maxUnavailable: 1, selector: { matchLabels: full.deployment.spec.selector.matchLabels } });
    // A one-replica release gets no budget: minAvailable 1 of 1 would block every node drain.
    return helmTemplate({ set: ['replicaCount=1'] }).then((r) => {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(byKind(parseManifests(r.stdout), 'PodDisruptionBudget').length, 0);
    });
  });

  for (const [name, get] of [['default', () => base], ['everything on', () => full]] as const) {
    it(`${name}: non-root, read-only root, no capabilities, RuntimeDefault seccomp, for every container`, () => {
      const { pod } = get();
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.ok(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0);
      assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
      assert.equal(pod.automountServiceAccountToken, false);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = c.securityContext;
        assert.equal(sc.readOnlyRootFilesystem, true, c.name);
        assert.equal(sc.allowPrivilegeEscalation, false, c.name);
        assert.equal(sc.runAsNonRoot, true, c.name);
        assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, c.name);
        assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' }, c.name);
      }
    });

    it(`${name}: probes on /readyz and /healthz at the port the config listens on`, () => {
      const { container, config } = get();
      const http = container.ports.find((p: Manifest) => p.name === 'http');
      assert.equal(http.containerPort, config.listen.port);
      assert.equal(config.listen.host, '0.0.0.0', 'reachable from the kubelet and the Service');
      assert.equal(container.readinessProbe.httpGet.path, '/readyz');
      assert.equal(container.livenessProbe.httpGet.path, '/healthz');
      assert.equal(container.startupProbe.httpGet.path, '/healthz');
      for (const p of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
        assert.equal(p.httpGet.port, 'http');
        assert.equal(p.httpGet.scheme, config.listen.tls ? 'HTTPS' : 'HTTP');
        // The Host guard runs before /healthz: with allowedHosts set the probes must send an allowed name.
        const host = p.httpGet.httpHeaders?.find((h: Manifest) => h.name === 'Host')?.value;
        const allowed: string[] = config.http?.allowedHosts ?? [];
        if (allowed.length > 0) assert.ok(allowed.includes(host), `probe Host ${host} not in ${allowed.join(',')}`);
        else assert.equal(host, undefined);
      }
      const svc = one(get().manifests, 'Service');
      assert.equal(svc.spec.ports.find((p: Manifest) => p.name === 'http').targetPort, 'http');
    });

    it(`${name}: shutdown timing fits the gateway's shutdown.graceSeconds`, () => {
      const { pod, container, config } = get();
      const values = name === 'default' ? VALUES.shutdown : { ...VALUES.shutdown, ...ALL_ON.shutdown };
      assert.equal(config.shutdown.graceSeconds, values.graceSeconds);
      const sleep = Number(container.lifecycle.preStop.exec.command[1]);
      assert.deepEqual(container.lifecycle.preStop.exec.command, ['sleep', String(values.preStopSleepSeconds)]);
      // Kubernetes' clock starts before preStop: the pod must outlive the sleep, the grace, and the clean-up after it.
      assert.equal(pod.terminationGracePeriodSeconds, sleep + config.shutdown.graceSeconds + values.cleanupSeconds);
      assert.ok(pod.terminationGracePeriodSeconds > sleep + config.shutdown.graceSeconds);
    });

    it(`${name}: config from the ConfigMap at /etc/portcullis; the bundle from its volume; writes only to volumes`, () => {
      const { pod, container, config, deployment } = get();
      assert.deepEqual(container.args, ['serve', '--config', '/etc/portcullis/portcullis.yaml']);
      const cfgMount = mountFor(container, '/etc/portcullis/portcullis.yaml')!;
      assert.equal(cfgMount.mountPath, '/etc/portcullis');
      assert.equal(cfgMount.readOnly, true);
      const volumes = new Map<string, Manifest>(pod.volumes.map((v: Manifest) => [v.name, v]));
      // Values merge maps: a volume must not end up with two sources (emptyDir from the defaults plus the user's).
      for (const v of pod.volumes as Manifest[]) assert.equal(Object.keys(v).length, 2, `volume ${v.name}: ${JSON.stringify(v)}`);
      assert.equal(volumes.get(cfgMount.name)!.configMap.name, one(get().manifests, 'ConfigMap').metadata.name);
      const bundleMount = mountFor(container, config.policy.bundle)!;
      assert.equal(bundleMount.name, 'bundle');
      assert.equal(bundleMount.readOnly, true);
      const bundleVolume = volumes.get('bundle')!;
      if (name === 'default') {
        assert.ok(bundleVolume.emptyDir, 'default: emptyDir filled by the init container');
        const init = pod.initContainers.find((c: Manifest) => c.name === 'bundle');
        assert.deepEqual(init.command, ['cp', VALUES.bundle.initContainer.sourcePath, config.policy.bundle]);
        assert.equal(init.image, container.image, 'the gateway image carries the example bundle');
      } else {
        assert.deepEqual(bundleVolume.configMap, { name: 'portcullis-policy-bundle', items: [{ key: 'bundle.tar.gz', path: 'policy.tar.gz' }] });
        assert.equal(pod.initContainers, undefined);
      }
      // Every path the gateway writes is on a writable volume that is not the image's root filesystem.
      for (const path of [config.audit.file, config.audit.spool.dir, '/tmp/x']) {
        const m = mountFor(container, path);
        assert.ok(m, `${path} is on no volume`);
        assert.notEqual(m.readOnly, true, path);
        const v = volumes.get(m.name)!;
        assert.ok(v.emptyDir || v.ephemeral || v.persistentVolumeClaim, `${path}: volume ${m.name} is ${JSON.stringify(v)}`);
      }
      // A config change must roll the pods: the gateway reads its config once.
      assert.match(deployment.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);
    });

    it(`${name}: Prometheus annotations name the metrics listener the config opens`, () => {
      const { container, config, deployment } = get();
      const a = deployment.spec.template.metadata.annotations;
      assert.equal(a['prometheus.io/scrape'], 'true');
      assert.equal(a['prometheus.io/path'], config.metrics.path);
      assert.equal(Number(a['prometheus.io/port']), config.metrics.listen.port);
      assert.equal(container.ports.find((p: Manifest) => p.name === 'metrics').containerPort, config.metrics.listen.port);
      assert.equal(config.metrics.listen.host, '0.0.0.0', 'own listener, outside the Host guard, reachable by the scraper');
    });
  }

  it('everything on: each environment variable the config names comes from a Secret key, none holds a literal', () => {
    const { container, config, text } = full;
    const refs = [...new Set(envRefs(config))];
    assert.ok(refs.length >= 7, `expected the secret fields of the example, got ${refs.join(',')}`);
    const env = new Map<string, Manifest>(container.env.map((e: Manifest) => [e.name, e]));
    for (const name of refs) {
      const e = env.get(name);
      assert.ok(e, `${name} is not in the container's env`);
      assert.equal(e.value, undefined, `${name} has a literal value`);
      assert.ok(e.valueFrom.secretKeyRef.name && e.valueFrom.secretKeyRef.key, name);
    }
    assert.equal(env.get('PORTCULLIS_REDIS_URL')!.valueFrom.secretKeyRef.name, 'portcullis-redis');
    assert.equal(env.get('PORTCULLIS_AUDIT_HMAC_KEY')!.valueFrom.secretKeyRef.name, 'portcullis-secrets');
    assert.doesNotMatch(text, /kind: Secret\b/, 'the chart references Secrets, it never creates one');
  });

  it('the rendered configs pass `portcullis validate`, in the environment the pod gets', async () => {
    for (const [name, r] of [['default', base], ['everything-on', full]] as const) {
      const file = join(dir, `${name}.yaml`);
      // validate reads what serve reads (the build step): the listener's certificate, mounted from a Secret in the
      // pod, is a real self-signed pair here, at a path of the test's own.
      const tlsDir = join(dir, `${name}-tls`);
      mkdirSync(tlsDir, { recursive: true });
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=portcullis.test', '-days', '1', '-keyout', join(tlsDir, 'tls.key'), '-out', join(tlsDir, 'tls.crt')], { stdio: 'ignore' });
      writeFileSync(file, r.configText.replaceAll('/etc/portcullis-tls/', `${tlsDir}/`));
      // The container's env as Kubernetes would set it, each Secret key standing in for its value (a URL-shaped one
      // where the config parses a URL).
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      for (const e of (r.container.env ?? []) as Manifest[]) {
        const placeholder = `placeholder-for-${e.valueFrom?.secretKeyRef.name}/${e.valueFrom?.secretKeyRef.key}`;
        env[e.name] = e.value ?? (/REDIS/.test(e.name) ? 'redis://placeholder.invalid:6379' : placeholder);
      }
      const v = await run(process.execPath, [CLI, 'validate', '--config', file], { env });
      assert.equal(v.code, 0, `${name}:\n${v.stdout}\n${v.stderr}`);
      assert.match(v.stdout, /valid/);
    }
  });

  it('NOTES warn about what breaks with several replicas, and say nothing of it for the production example', async () => {
    const [plain, memoryStores, production] = await Promise.all([
      helmNotes(),
      helmNotes({ setJson: ['config.approvals={}', 'config.quotas={"buckets":{}}'] }),
      helmNotes({ values: [EVERYTHING_ON] }),
    ]);
    assert.match(plain, /WARNING: config\.servers is empty/);
    assert.match(plain, /placeholder identity provider/);
    assert.match(plain, /terminationGracePeriodSeconds 25/);
    assert.doesNotMatch(plain, /approvals\.store/);
    assert.match(memoryStores, /WARNING: more than one replica with approvals\.store\.kind memory/);
    assert.match(memoryStores, /WARNING: more than one replica with quotas\.store memory/);
    assert.match(memoryStores, /NOTE: approvals\.console\.sessionKeyEnv is unset/);
    assert.doesNotMatch(production, /WARNING|NOTE:/);
    assert.match(production, /https:\/\/portcullis\.gateway\.svc:443\/mcp/);
    assert.match(production, /-H 'Host: mcp\.example\.com'/);
  });

  it('refuses, naming the value, a config that the chart would contradict or could not provide', async () => {
    const cases: Array<[string[], RegExp, string[]?]> = [
      [['config.listen.port=9000'], /config\.listen\.port \(set listenHost \/ containerPort\)/],
      [[], /config\.http\.allowedHosts is an empty list: the gateway would refuse every request/, ['config.http.allowedHosts=[]']],
      [['config.shutdown.graceSeconds=3'], /config\.shutdown\.graceSeconds/],
      [['config.policy.bundle=/x.tar.gz'], /config\.policy\.bundle/],
      [['config.audit.hmacKeyEnv=AUDIT_KEY'], /neither secretEnv nor env provides: AUDIT_KEY/],
      [['secretEnv.AUDIT_KEY.key=k', 'config.audit.hmacKeyEnv=AUDIT_KEY'], /secretEnv\.AUDIT_KEY: set its secretName or existingSecret/],
      [[], /neither secretEnv nor env provides: VAULT_ADDR, VAULT_TOKEN/, ['config.vault={"auth":{"method":"token"}}']],
      [['env.VAULT_ADDR=https://vault:8200'], /neither secretEnv nor env provides: VAULT_TOKEN$/m, ['config.vault={"auth":{"method":"token"}}']],
      [['metrics.bearerTokenEnv=SCRAPE_TOKEN'], /neither secretEnv nor env provides: SCRAPE_TOKEN/],
      [['bundle.source=configMap'], /bundle\.source configMap needs bundle\.configMap\.name/],
      [['bundle.source=s3'], /bundle\.source must be initContainer, configMap or persistentVolumeClaim/],
    ];
    await Promise.all(
      cases.map(async ([set, message, setJson]) => {
        const r = await helmTemplate({ set, setJson });
        assert.notEqual(r.code, 0, `--set ${[...set, ...(setJson ?? [])].join(' ')} rendered`);
        assert.match(r.stderr, message);
      }),
    );
  });

  it("the default config serves: ready on a read-only root filesystem as the image's numeric user, clean exit on SIGTERM", async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for a private mount namespace (unshare) and setpriv');
    // The rendered config as it is, except: loopback and ephemeral ports (tests never bind 0.0.0.0), and a local
    // JWKS file instead of the placeholder provider's URL, so that nothing can ever reach out of this machine.
    const issuer = await createIssuer(dir);
    const cfg = structuredClone(base.config);
    cfg.listen = { ...cfg.listen, host: '127.0.0.1', port: 0 };
    cfg.metrics.listen = { host: '127.0.0.1', port: 0 };
    cfg.auth = { ...cfg.auth, jwks: { file: '/etc/portcullis/jwks.json' } };
    copyFileSync(issuer.jwksFile, join(dir, 'jwks-for-ro.json'));
    const g = await readOnlyRootGateway({
      config: stringify(cfg),
      files: { '/etc/portcullis/jwks.json': join(dir, 'jwks-for-ro.json'), [cfg.policy.bundle]: revA },
      writable: [cfg.audit.file.replace(/\/[^/]+$/, ''), cfg.audit.spool.dir],
      uid: base.pod.securityContext.runAsUser,
      gid: base.pod.securityContext.runAsGroup,
    });
    scope.defer(g, (x) => x.stop());
    const health = await fetch(`${g.base}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${g.base}/readyz`);
    const readyText = await ready.text();
    assert.equal(ready.status, 200, readyText);
    assert.equal((JSON.parse(readyText) as { bundle: { revision: string } }).bundle.revision, 'rev-a', 'the bundle at config policy.bundle');
    const metrics = await fetch(`${g.metricsUrl}`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# HELP /m);
    const { code, signal } = await g.stop();
    assert.equal(signal, null, g.stderr());
    assert.equal(code, 0, g.stderr());
    assert.doesNotMatch(g.stderr(), /EROFS|EACCES|read-only file system/i);
  });

  it('bundle.source configMap: a new bundle in the ConfigMap is hot-loaded without a restart', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for a private mount namespace (unshare) and setpriv');
    const cm = await helmTemplate({ set: ['bundle.source=configMap', 'bundle.configMap.name=policy'] });
    assert.equal(cm.code, 0, cm.stderr);
    const manifests = parseManifests(cm.stdout);
    const pod = one(manifests, 'Deployment').spec.template.spec;
    const config = parseYaml(one(manifests, 'ConfigMap').data['portcullis.yaml']) as Manifest;
    const volume = pod.volumes.find((v: Manifest) => v.name === 'bundle');
    assert.deepEqual(volume.configMap, { name: 'policy', items: [{ key: 'policy.tar.gz', path: 'policy.tar.gz' }] });
    // The kubelet's layout for a ConfigMap volume: a timestamped directory, a ..data symlink to it, and each item as
    // a symlink through ..data. An update writes a new directory and renames a new ..data over the old one.
    const volumeDir = join(dir, 'configmap-volume');
    const publish = (generation: string, bundleFile: string) => {
      mkdirSync(join(volumeDir, `..${generation}`), { recursive: true });
      copyFileSync(bundleFile, join(volumeDir, `..${generation}`, 'policy.tar.gz'));
      symlinkSync(`..${generation}`, join(volumeDir, '..data_tmp'));
      renameSync(join(volumeDir, '..data_tmp'), join(volumeDir, '..data'));
      if (!existsSync(join(volumeDir, 'policy.tar.gz'))) symlinkSync('..data/policy.tar.gz', join(volumeDir, 'policy.tar.gz'));
    };
    publish('2026_01_01_00_00_00.1', revA);
    const issuer = await createIssuer(dir);
    copyFileSync(issuer.jwksFile, join(dir, 'jwks-cm.json'));
    const cfg = structuredClone(config);
    cfg.listen = { ...cfg.listen, host: '127.0.0.1', port: 0 };
    cfg.metrics.listen = { host: '127.0.0.1', port: 0 };
    cfg.auth = { ...cfg.auth, jwks: { file: '/etc/portcullis/jwks.json' } };
    const g = await readOnlyRootGateway({
      config: stringify(cfg),
      files: { '/etc/portcullis/jwks.json': join(dir, 'jwks-cm.json') },
      writable: [cfg.audit.file.replace(/\/[^/]+$/, ''), cfg.audit.spool.dir],
      binds: { [VALUES.bundle.mountPath]: volumeDir },
      uid: pod.securityContext.runAsUser,
      gid: pod.securityContext.runAsGroup,
    });
    scope.defer(g, (x) => x.stop());
    const revision = async () => ((await (await fetch(`${g.base}/readyz`)).json()) as { bundle?: { revision?: string } }).bundle?.revision;
    assert.equal(await revision(), 'rev-a');
    publish('2026_01_01_00_01_00.2', revB);
    await waitFor(async () => (await revision()) === 'rev-b', 'the gateway to load rev-b', 10_000, 100);
    const { code } = await g.stop();
    assert.equal(code, 0, g.stderr());
  });
});
