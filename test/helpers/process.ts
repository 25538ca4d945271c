/** Child-process plumbing for integration tests: spawn with captured output, wait for a line, stop politely then firmly, poll. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export interface Managed {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited (code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

const live = new Set<ChildProcess>();
// Backstop: a crashed test file must not leave processes behind. Only our own children, by pid.
process.on('exit', () => {
  for (const p of live) {
    if (p.exitCode === null && p.signalCode === null && p.pid) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

export function spawnManaged(command: string, args: string[], opts: SpawnOptions = {}): Managed {
  const proc = spawn(command, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`could not spawn ${command}`);
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      done = true;
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  return { proc, pid: proc.pid, stdout: () => out, stderr: () => err, exited, hasExited: () => done };
}

/** Polls `fn` until it returns a truthy value (returned) or the deadline passes (throws with `what`). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String((lastErr as Error).message ?? lastErr)})` : ''}`);
    }
    await delay(intervalMs);
  }
}

/** Waits until stdout has a line matching `re`; fails early if the process exits first. */
export async function waitForStdout(m: Managed, re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  return waitFor(
    () => {
      const match = m.stdout().match(re);
      if (match) return match;
      if (m.hasExited()) throw new Error(`process exited before printing ${re}; stderr:\n${m.stderr().slice(-3000)}`);
      return null;
    },
    `stdout ${re}`,
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nstdout:\n${m.stdout().slice(-2000)}\nstderr:\n${m.stderr().slice(-3000)}`);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
export async function stopManaged(m: Managed | undefined, graceMs = 3000): Promise<void> {
  if (!m || m.hasExited()) return;
  try {
    process.kill(m.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = delay(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([m.exited, t])) === 'timeout' && !m.hasExited()) {
    try {
      process.kill(m.pid, 'SIGKILL');
    } catch {
      // raced with exit
    }
    await m.exited;
  }
}

/** True while /proc/<pid> exists and the process is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie still answers kill(0); its state letter in /proc/<pid>/stat is Z.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids of processes whose command line contains every one of `needles` (read from /proc). */
export function findPids(...needles: string[]): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (needles.every((n) => cmd.includes(n))) out.push(Number(name));
  }
  return out.filter((p) => p !== process.pid);
}

/** Parent pid from /proc/<pid>/stat. */
export function parentPid(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return null;
  }
}
