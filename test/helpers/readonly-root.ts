/**
 * Runs the real gateway the way the Helm chart runs it in a pod, without a container engine: in a private mount
 * namespace (unshare) where the root filesystem is read-only, /etc/portcullis holds only the config (and given
 * files), the listed directories and /tmp are fresh writable tmpfs volumes, and the process has the image's numeric
 * user and group (setpriv) and a minimal environment. Needs root. Nothing on the host is created or changed:
 * /etc and /var/lib get tmpfs or overlay views inside the namespace only.
 */
import { dirname, join } from 'node:path';
import { ROOT } from './paths.js';
import { spawnManaged, stopManaged, waitForStdout, waitFor } from './process.js';

export interface ReadOnlyRootOptions {
  /** The config YAML, written to /etc/portcullis/portcullis.yaml. */
  config: string;
  /** Absolute path inside the namespace → host file copied there before the root is made read-only. Paths must be under /etc/portcullis or /var/lib. */
  files: Record<string, string>;
  /** Directories under /var/lib that get a writable tmpfs owned by uid:gid (audit, spool). */
  writable: string[];
  /** Directories under /var/lib bind-mounted read-only from a host directory, which the test may keep changing (a ConfigMap volume). */
  binds?: Record<string, string>;
  uid: number;
  gid: number;
  /** The application directory (dist/main.js, node_modules, package.json); default the repository. */
  appDir?: string;
  /** Host directories bind-mounted (read-only) over existing empty directories of appDir, by relative path. */
  appBinds?: Record<string, string>;
}

export interface ReadOnlyRootGateway {
  base: string;
  metricsUrl: string;
  stderr(): string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export async function readOnlyRootGateway(o: ReadOnlyRootOptions): Promise<ReadOnlyRootGateway> {
  for (const p of [...Object.keys(o.files), ...o.writable, ...Object.keys(o.binds ?? {})]) {
    if (!p.startsWith('/etc/portcullis/') && !p.startsWith('/var/lib/')) throw new Error(`${p}: only /etc/portcullis/* and /var/lib/* are prepared`);
  }
  if (!Number.isInteger(o.uid) || !Number.isInteger(o.gid) || o.uid <= 0) throw new Error('uid and gid must be positive integers');
  const lines = [
    'set -eu',
    // A scratch tmpfs for the overlay's upper layer and the config; /var/lib itself becomes a tmpfs (nothing the gateway needs is there).
    'mount -t tmpfs -o size=64m,mode=0755 tmpfs /var/lib',
    'mkdir -p /var/lib/.etc-upper /var/lib/.etc-work',
    // /etc through an overlay so /etc/portcullis can exist here without touching the host's /etc.
    'mount -t overlay overlay -o lowerdir=/etc,upperdir=/var/lib/.etc-upper,workdir=/var/lib/.etc-work /etc',
    'mkdir -p /etc/portcullis',
    `printf '%s' ${sh(o.config)} > /etc/portcullis/portcullis.yaml`,
  ];
  for (const [dest, src] of Object.entries(o.files)) lines.push(`mkdir -p ${sh(dirname(dest))}`, `cp ${sh(src)} ${sh(dest)}`);
  for (const d of o.writable) lines.push(`mkdir -p ${sh(d)}`, `mount -t tmpfs -o size=64m,mode=0700,uid=${o.uid},gid=${o.gid} tmpfs ${sh(d)}`);
  for (const [d, src] of Object.entries(o.binds ?? {})) lines.push(`mkdir -p ${sh(d)}`, `mount --bind ${sh(src)} ${sh(d)}`, `mount -o remount,bind,ro ${sh(d)}`);
  // The app dir (the repository by default) is bound to a path of its own first, read-only: a checkout under the
  // host's /tmp (a CI clone) would otherwise vanish under the fresh /tmp.
  const app = '/var/lib/.app';
  lines.push(`mkdir -p ${app}`, `mount --bind ${sh(o.appDir ?? ROOT)} ${app}`, `mount -o remount,bind,ro ${app}`);
  // A bind mount, unlike a symlink, gives the files paths under the app: module resolution never walks up into the host's trees.
  for (const [rel, src] of Object.entries(o.appBinds ?? {})) {
    lines.push(`mount --bind ${sh(src)} ${sh(`${app}/${rel}`)}`, `mount -o remount,bind,ro ${sh(`${app}/${rel}`)}`);
  }
  lines.push(
    'mount -o remount,ro /etc',
    'mount -o remount,ro /var/lib',
    'mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp',
    // Last: the root filesystem itself (the repository with dist/ and node_modules/ included) becomes read-only.
    'mount -o remount,bind,ro /',
    `cd ${sh(app)}`,
    `exec setpriv --reuid=${o.uid} --regid=${o.gid} --clear-groups --no-new-privs ${sh(process.execPath)} ${sh(join(app, 'dist', 'main.js'))} serve --config /etc/portcullis/portcullis.yaml`,
  );
  const proc = spawnManaged('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', lines.join('\n')], {
    cwd: '/',
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', NODE_ENV: 'production' },
  });
  const stop = async () => {
    await stopManaged(proc);
    return proc.exited;
  };
  try {
    const m = await waitForStdout(proc, /Portcullis is listening on (http:\/\/127\.0\.0\.1:\d+)\/mcp/, 20_000);
    const metricsUrl = await waitFor(() => /metrics listening.*?(http:\/\/127\.0\.0\.1:\d+\/[^"\s]*)/.exec(proc.stderr() + proc.stdout())?.[1], 'the metrics listener', 10_000);
    return { base: m[1]!, metricsUrl, stderr: () => proc.stderr(), stop };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nstderr:\n${proc.stderr()}`);
  }
}
