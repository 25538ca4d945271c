// Child processes for the benchmark: start, wait for a ready line, sample /proc CPU ticks, and stop cleanly.
// Every process the bench starts is registered here, and stopAll() ends exactly those (by pid, never by name).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';

const started = new Set();

export const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64

/**
 * Spawns `cmd args` and resolves once a stdout line matches `ready` (a RegExp); the match is returned.
 * stderr (and stdout) go to `logFile`; the stderr text is also kept in memory so the bench can grep it for warnings.
 */
export function startProcess(name, cmd, args, { ready, env, cwd, logFile, timeoutMs = 30_000 } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  const proc = { name, child, pid: child.pid, stderr: '', stdout: '', exited: false, exitCode: null, log };
  started.add(proc);
  child.stderr.setEncoding('utf8');
  child.stdout.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    // Bounded: only the text is needed for warning counts, not megabytes of logs.
    if (proc.stderr.length < 4_000_000) proc.stderr += d;
    log?.write(d);
  });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      proc.exited = true;
      proc.exitCode = code ?? signal;
      resolve();
    });
  });
  proc.exitedPromise = exited;
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new Error(`${name}: no ready line within ${timeoutMs} ms\n${proc.stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      log?.write(d);
      if (proc.stdout.length < 100_000) proc.stdout += d;
      if (done || !ready) return;
      buf += d;
      const m = ready.exec(buf);
      if (m) {
        done = true;
        clearTimeout(timer);
        proc.match = m;
        resolve(proc);
      }
    });
    child.on('error', (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(err);
    });
    exited.then(() => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${name} exited (${proc.exitCode}) before it was ready\n${proc.stderr.slice(-2000)}`));
    });
    if (!ready) {
      done = true;
      clearTimeout(timer);
      resolve(proc);
    }
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. Also ends the descendants found at the time of the call (e.g. a stdio child). */
export async function stopProcess(proc, graceMs = 5000) {
  if (!proc || !started.has(proc)) return;
  const kids = descendants(proc.pid);
  if (!proc.exited) {
    try {
      proc.child.kill('SIGTERM');
    } catch {}
    const timeout = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([proc.exitedPromise, timeout]);
    if (!proc.exited) {
      try {
        proc.child.kill('SIGKILL');
      } catch {}
      await Promise.race([proc.exitedPromise, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }
  // A descendant that outlived its parent (e.g. a stdio upstream) is ours too: end it by pid.
  for (const pid of kids) {
    if (alive(pid)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const pid of kids) {
    if (alive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  proc.log?.end();
  started.delete(proc);
}

export async function stopAll() {
  await Promise.all([...started].map((p) => stopProcess(p, 3000)));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** utime+stime ticks of one pid (0 once it is gone). */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** All live descendants of pid (children, grandchildren, ...), from /proc/<pid>/stat ppid fields. */
export function descendants(pid) {
  const parentOf = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(d), Number(rest[1]));
    } catch {}
  }
  const out = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift();
    for (const [c, pp] of parentOf) {
      if (pp === p) {
        out.push(c);
        queue.push(c);
      }
    }
  }
  return out;
}

/** A port that was free a moment ago (for programs that cannot be told to pick one themselves). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls until fn() resolves truthy. */
export async function waitFor(fn, { timeoutMs = 30_000, everyMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Number of MaxListenersExceededWarning lines a process wrote to stderr. */
export function maxListenerWarnings(proc) {
  return (proc?.stderr.match(/MaxListenersExceededWarning/g) ?? []).length;
}

/** Busy ticks of the whole machine (all cores) from /proc/stat: user+nice+system+irq+softirq+steal. */
export function machineTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] ?? 0);
}

/**
 * Waits (up to maxMs) for a window of `windowMs` in which the machine is busier than `maxCores` only because of
 * `ownPids`. Other sessions may run test suites on the same two cores; this keeps them out of the cells when possible.
 * Returns the foreign load (cores) of the last window.
 */
export async function waitQuiet({ maxMs = 20_000, windowMs = 1000, maxCores = 0.25, ownPids = [] } = {}) {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const own0 = ownPids.reduce((s, p) => s + cpuTicks(p), 0);
    const m0 = machineTicks();
    await new Promise((r) => setTimeout(r, windowMs));
    const own = ownPids.reduce((s, p) => s + cpuTicks(p), 0) - own0;
    const foreignCores = ((machineTicks() - m0 - own) * 1000) / CLK_TCK / windowMs;
    if (foreignCores <= maxCores || Date.now() >= deadline) return Math.max(0, foreignCores);
  }
}
