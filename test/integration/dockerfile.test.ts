// The Dockerfile, checked without a Docker engine (none runs on our machines, so `docker build` is not run here):
// its stages and runtime contract read statically, every file it copies present and let through .dockerignore, and
// the runtime stage's files assembled as the Dockerfile lays them out (its deps stage's own npm command, the build
// stage's outputs as scripts/setup.sh builds them), then served by the real gateway on a read-only root filesystem
// as the image's numeric user, with only the declared volumes writable.
import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { CHART } from '../helpers/deploy.js';
import { dockerignored, parseDockerfile, type Instruction, type Stage } from '../helpers/dockerfile.js';
import { ROOT, tempDir } from '../helpers/paths.js';
import { readOnlyRootGateway } from '../helpers/readonly-root.js';
import { Scope } from '../helpers/scope.js';

const { stages } = parseDockerfile(join(ROOT, 'Dockerfile'));
const IGNORE = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
const VALUES = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
const stage = (name: string) => stages.find((s) => s.name === name) ?? assert.fail(`no stage ${name}`);
const runtime = stages.at(-1)!;
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);
const last = (s: Stage, op: string) => ops(s, op).at(-1) ?? assert.fail(`${s.name}: no ${op}`);
/** COPY sources and destination: the last word is the destination, the rest are sources. */
const copyParts = (i: Instruction) => ({ from: i.flags.from, sources: i.words.slice(0, -1), dest: i.words.at(-1)! });
const workdir = (s: Stage) => last(s, 'WORKDIR').words[0]!;
const inStage = (s: Stage, dest: string) => posix.resolve(workdir(s), dest.replace(/\/$/, ''));

describe('Dockerfile', () => {
  it('has the build stages and a slim Node 20 runtime last', () => {
    assert.deepEqual(stages.map((s) => s.name), ['opa', 'deps', 'build', 'runtime']);
    assert.match(runtime.image, /^node:20[\w.-]*-slim$/);
    assert.match(stage('opa').image, /^golang:/);
    const build = stage('build');
    const runs = ops(build, 'RUN').map((i) => i.args);
    assert.ok(runs.some((r) => /\bnpm ci\b/.test(r)), 'npm ci');
    assert.ok(runs.some((r) => /\bnpm run build\b/.test(r)), 'tsc build');
    assert.ok(runs.some((r) => /dist\/main\.js policy build policies -o bundles\/policy\.tar\.gz/.test(r)), 'policy bundle build');
    assert.ok(ops(build, 'COPY').some((i) => i.flags.from === 'opa'), 'the OPA CLI is copied into the build stage');
    assert.match(ops(stage('opa'), 'RUN')[0]!.args, /go install "github\.com\/open-policy-agent\/opa@\$\{OPA_VERSION\}"/);
    // The same pinned OPA as the project's own installer.
    const pinned = /OPA_VERSION="(v[\d.]+)"/.exec(readFileSync(join(ROOT, 'scripts', 'install-tools.sh'), 'utf8'))![1];
    assert.equal(ops(stage('opa'), 'ARG')[0]!.args, `OPA_VERSION=${pinned}`);
  });

  it('keeps the OPA CLI, Go, dev dependencies and sources out of the runtime stage', () => {
    for (const i of ops(runtime, 'COPY')) {
      const { from, sources } = copyParts(i);
      assert.notEqual(from, 'opa', 'no COPY --from=opa in the runtime');
      for (const src of sources) assert.doesNotMatch(src, /(^|\/)(opa|src|policies|test|\.tools)(\/|$)/, `runtime copies ${src}`);
    }
    assert.deepEqual(
      ops(runtime, 'COPY').map((i) => `${i.flags.from ?? 'context'}:${i.words.join(' ')}`),
      ['context:package.json ./', 'deps:/app/node_modules ./node_modules', 'build:/app/dist ./dist', 'build:/app/bundles/policy.tar.gz ./bundles/policy.tar.gz'],
      'only what the gateway runs: package.json (ESM "type"), production node_modules, dist, the example bundle',
    );
    for (const r of ops(runtime, 'RUN')) assert.doesNotMatch(r.args, /\b(opa|go|npm|apt-get|curl|wget)\b/, r.args);
    assert.match(ops(stage('deps'), 'RUN')[0]!.args, /npm ci --omit=dev --ignore-scripts/);
    // --ignore-scripts is only safe while no production dependency needs its install script.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };
    const scripted = Object.entries(lock.packages).filter(([name, p]) => name !== '' && !p.dev && p.hasInstallScript).map(([n]) => n);
    assert.deepEqual(scripted, []);
  });

  it("runs as a numeric non-root user, the chart's runAsUser", () => {
    const user = last(runtime, 'USER').words[0]!;
    const m = /^(\d+):(\d+)$/.exec(user);
    assert.ok(m, `USER ${user} is not numeric uid:gid`);
    assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0);
    assert.equal(Number(m[1]), VALUES.podSecurityContext.runAsUser);
    assert.equal(Number(m[2]), VALUES.podSecurityContext.runAsGroup);
    // USER comes after every RUN: nothing runs as root once it is set.
    const idx = runtime.instructions.indexOf(last(runtime, 'USER'));
    assert.ok(runtime.instructions.slice(idx).every((i) => i.op !== 'RUN'));
  });

  it("has the entrypoint, command, health check and volumes the chart relies on", () => {
    const entry = last(runtime, 'ENTRYPOINT');
    const cmd = last(runtime, 'CMD');
    assert.ok(entry.json && cmd.json, 'exec form, so node is PID 1 and receives SIGTERM');
    assert.deepEqual(entry.words, ['node', 'dist/main.js']);
    assert.deepEqual(cmd.words, ['serve', '--config', '/etc/portcullis/portcullis.yaml']);
    const hc = last(runtime, 'HEALTHCHECK');
    assert.ok(hc.json);
    assert.match(hc.words.join(' '), new RegExp(`127\\.0\\.0\\.1:${VALUES.containerPort}/healthz`));
    assert.deepEqual(last(runtime, 'EXPOSE').words, [String(VALUES.containerPort)]);
    const volumes = last(runtime, 'VOLUME').words;
    assert.deepEqual(volumes.sort(), [VALUES.auditVolume.mountPath, VALUES.spoolVolume.mountPath, '/tmp'].sort());
    // The chart's default init container copies the bundle from where the Dockerfile puts it.
    const bundleCopy = ops(runtime, 'COPY').find((i) => copyParts(i).sources[0] === '/app/bundles/policy.tar.gz')!;
    assert.equal(inStage(runtime, copyParts(bundleCopy).dest), VALUES.bundle.initContainer.sourcePath);
    assert.equal(inStage(runtime, 'dist/main.js'), '/app/dist/main.js');
  });

  it('every file copied from the build context exists and passes .dockerignore; nothing else is sent', () => {
    let checked = 0;
    for (const s of stages) {
      for (const i of ops(s, 'COPY').filter((x) => !x.flags.from)) {
        for (const src of copyParts(i).sources) {
          const path = src.replace(/\/$/, '');
          assert.ok(existsSync(join(ROOT, path)), `${s.name}: COPY ${src} does not exist`);
          assert.equal(dockerignored(IGNORE, path), false, `${s.name}: COPY ${src} is excluded by .dockerignore`);
          if (statSync(join(ROOT, path)).isDirectory()) {
            assert.ok(readdirSync(join(ROOT, path)).some((f) => !dockerignored(IGNORE, `${path}/${f}`)), `${src} arrives empty`);
          }
          checked++;
        }
      }
    }
    assert.ok(checked >= 6);
    // An allow-list: local secrets and build output never enter the build context.
    for (const p of ['.run/vault/secret-id', '.tools/bin/opa', 'node_modules/ajv/package.json', 'dist/main.js', '.git/config', 'bundles/policy.tar.gz', 'test/helpers/paths.ts', 'src/config/load-config.test.ts']) {
      assert.equal(dockerignored(IGNORE, p), true, `${p} would be sent to the Docker daemon`);
    }
    assert.equal(dockerignored(IGNORE, 'src/app.ts'), false);
  });

  describe('the runtime stage, assembled as the Dockerfile lays it out', () => {
    const scope = new Scope();
    let app: string;
    let dir: string;
    let nodeModules: string;

    before(async () => {
      const t = tempDir();
      dir = t.dir;
      scope.defer(null, t.cleanup);
      // The deps stage: its COPYs and its own RUN command (npm from the registry, warm cache preferred). Kept in .run/
      // under a hash of its inputs, so only a changed lock file or command pays for the install again.
      const depsStage = stage('deps');
      const inputs = createHash('sha256');
      for (const i of depsStage.instructions) inputs.update(`${i.op} ${i.args}\n`);
      for (const i of ops(depsStage, 'COPY')) for (const src of copyParts(i).sources) inputs.update(readFileSync(join(ROOT, src)));
      const deps = join(ROOT, '.run', 'dockerfile-deps', inputs.digest('hex').slice(0, 16));
      if (!existsSync(join(deps, '.complete'))) {
        rmSync(dirname(deps), { recursive: true, force: true }); // earlier inputs' installs too
        mkdirSync(deps, { recursive: true });
        for (const i of ops(depsStage, 'COPY')) for (const src of copyParts(i).sources) cpSync(join(ROOT, src), join(deps, src));
        for (const r of ops(depsStage, 'RUN')) execSync(r.args, { cwd: deps, stdio: 'pipe', env: { ...process.env, npm_config_prefer_offline: 'true' } });
        writeFileSync(join(deps, '.complete'), '');
      }
      // The build stage is what scripts/setup.sh builds in the repository with the same commands (npm run build, policy build).
      const stageRoots: Record<string, string> = { context: ROOT, deps, build: ROOT };
      app = join(dir, 'app');
      for (const i of ops(runtime, 'COPY')) {
        const { from, sources, dest } = copyParts(i);
        // node_modules (thousands of files) is bind-mounted into place when the gateway runs rather than copied.
        if (from === 'deps' && sources.length === 1 && sources[0] === '/app/node_modules') {
          nodeModules = join(deps, 'node_modules');
          mkdirSync(join(app, 'node_modules'), { recursive: true });
          continue;
        }
        const root = stageRoots[from ?? 'context'] ?? assert.fail(`no local equivalent of stage ${from}`);
        for (const src of sources) {
          const local = from ? join(root, posix.relative(workdir(stage(from)), src)) : join(root, src);
          // COPY file dir/ puts the file inside dir; COPY dir dest copies the directory's contents to dest.
          const target = join(app, posix.relative(workdir(runtime), inStage(runtime, dest)));
          const intoDir = dest.endsWith('/') && !statSync(local).isDirectory();
          cpSync(local, intoDir ? join(target, posix.basename(src)) : target, { recursive: true });
        }
      }
    });
    after(() => scope.close());

    it('holds no OPA binary and no dev dependency', () => {
      const found: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else if (e.name === 'opa' || e.name === 'opa.exe') found.push(join(d, e.name));
        }
      };
      walk(app);
      walk(nodeModules);
      assert.deepEqual(found, []);
      for (const dev of ['typescript', 'tsx', 'node', '@modelcontextprotocol/conformance', 'playwright-core']) {
        assert.equal(existsSync(join(nodeModules, dev)), false, `${dev} is a dev dependency`);
      }
      assert.ok(existsSync(join(nodeModules, '@open-policy-agent', 'opa-wasm')), 'the WASM evaluator is a production dependency');
      assert.deepEqual(readdirSync(app).sort(), ['bundles', 'dist', 'node_modules', 'package.json']);
    });

    it('serves on a read-only root as the numeric USER, writing only to the VOLUMEs, and exits cleanly on SIGTERM', async (t) => {
      if (process.getuid?.() !== 0) return t.skip('needs root for a private mount namespace (unshare) and setpriv');
      const [uid, gid] = last(runtime, 'USER').words[0]!.split(':').map(Number) as [number, number];
      const [audit, spool] = [VALUES.auditVolume.mountPath as string, VALUES.spoolVolume.mountPath as string];
      const cfg = {
        listen: { host: '127.0.0.1', port: 0 },
        auth: { mode: 'none' },
        policy: { bundle: '/var/lib/portcullis/bundle/policy.tar.gz' },
        servers: [],
        audit: { file: `${audit}/decisions.jsonl`, spool: { dir: spool } },
        metrics: { listen: { host: '127.0.0.1', port: 0 } },
      };
      const g = await readOnlyRootGateway({
        appDir: app,
        appBinds: { node_modules: nodeModules },
        config: stringify(cfg),
        // The bundle the image carries, where the chart's init container puts it.
        files: { [cfg.policy.bundle]: join(app, 'bundles', 'policy.tar.gz') },
        writable: [audit, spool],
        uid,
        gid,
      });
      scope.defer(g, (x) => x.stop());
      assert.equal((await fetch(`${g.base}/healthz`)).status, 200);
      const ready = await fetch(`${g.base}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      // The MCP endpoint answers (a session is created in memory; nothing on the root filesystem is needed).
      const res = await fetch(`${g.base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      });
      assert.equal(res.status, 200, await res.text());
      // The HEALTHCHECK command itself, as Docker would run it (its URL pointed at this port): healthy now, unhealthy after.
      const healthcheck = () => {
        const [cmd, ...args] = last(runtime, 'HEALTHCHECK').words;
        return spawnSync(cmd === 'node' ? process.execPath : cmd!, args, { env: { PORTCULLIS_HEALTH_URL: `${g.base}/healthz` }, timeout: 10_000 }).status;
      };
      assert.equal(healthcheck(), 0);
      const { code, signal } = await g.stop();
      assert.equal(healthcheck(), 1);
      assert.equal(signal, null, g.stderr());
      assert.equal(code, 0, g.stderr());
      assert.doesNotMatch(g.stderr(), /EROFS|EACCES|read-only file system|permission denied/i);
    });
  });
});
