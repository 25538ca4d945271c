// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per module/package.
//
//   node test/bench/cpuprofile-top.mjs FILE.cpuprofile [--top 15] [--json] [--from US --to US]
//
// Self time of a node = the sum of the sampling intervals whose sample landed in that node. (idle) is reported apart
// and left out of the percentages, so they read as shares of the time the process was busy.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

export function summarizeProfile(profile, { top = 15, root = process.cwd(), window } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map(); // node id -> µs
  const { samples, timeDeltas } = profile;
  // Sample timestamps are CLOCK_MONOTONIC µs (startTime + running sum of timeDeltas); `window` keeps [from, to].
  let t = profile.startTime;
  let kept = 0;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    if (window && (t < window.from || t > window.to)) continue;
    kept++;
    // timeDeltas[i+1] is the time from sample i to the next one: that interval belongs to sample i.
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const fn = new Map();
  const mod = new Map();
  // Inclusive time of the gateway's own functions (dist/ or src/): each sample counts once per function on its stack.
  const incl = new Map();
  for (const [id, us] of self) {
    if (byId.get(id).callFrame.functionName === '(idle)') continue;
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const cf = byId.get(n).callFrame;
      const where = location(cf, root);
      if (!/^(dist|src)\//.test(where)) continue;
      const key = `${cf.functionName || '(anonymous)'} ${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = incl.get(key) ?? { function: cf.functionName || '(anonymous)', where, inclUs: 0 };
      e.inclUs += us;
      incl.set(key, e);
    }
  }
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const where = location(cf, root);
    const key = `${name} ${where}`;
    const f = fn.get(key) ?? { function: name, where, selfUs: 0 };
    f.selfUs += us;
    fn.set(key, f);
    // Native frames (writev, JSON.parse, …) have no URL: they are charged to the nearest caller that has one, so the
    // module table says which code caused the work. (garbage collector)/(program) stay as they are.
    let owner = id;
    while (!byId.get(owner).callFrame.url && parent.has(owner) && !name.startsWith('(')) owner = parent.get(owner);
    const ocf = byId.get(owner).callFrame;
    const m = moduleOf(ocf, ocf.functionName || name, root);
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  const pct = (us) => (total > 0 ? (us / total) * 100 : 0);
  return {
    busyMs: total / 1000,
    idleMs: idle / 1000,
    samples: kept,
    window: window ?? null,
    topFunctions: [...fn.values()]
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, top)
      .map((f) => ({ ...f, selfMs: f.selfUs / 1000, pct: pct(f.selfUs) })),
    gatewayInclusive: [...incl.values()]
      .sort((a, b) => b.inclUs - a.inclUs)
      .slice(0, top)
      .map((e) => ({ ...e, inclMs: e.inclUs / 1000, pct: pct(e.inclUs) })),
    byModule: [...mod.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, selfMs: us / 1000, pct: pct(us) })),
  };
}

function location(cf, root) {
  if (!cf.url) return '';
  let u = cf.url.replace(/^file:\/\//, '');
  if (u.startsWith('/')) u = relative(root, u);
  return `${u}:${cf.lineNumber + 1}`;
}

/** Groups a frame: node_modules/<package>, dist/<dir> (the gateway), node:<builtin>, or a V8 pseudo-frame. */
function moduleOf(cf, name, root) {
  if (!cf.url) return name.startsWith('(') ? name : '(native / V8 builtins)';
  let u = cf.url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + 13).split('/');
    return `npm:${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (u.startsWith('node:')) return u.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/');
  if (u.startsWith('/')) u = relative(root, u);
  const parts = u.split('/');
  if (parts[0] === 'dist' || parts[0] === 'src') return `portcullis:${parts.slice(1, -1).join('/') || parts[1]}`;
  return u;
}

export function profileMarkdown(s) {
  const lines = [];
  lines.push(`Busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms, ${s.samples} samples. Shares are of busy time.`);
  lines.push('');
  lines.push('| # | self ms | self % | function | where |');
  lines.push('|---:|---:|---:|---|---|');
  s.topFunctions.forEach((f, i) => lines.push(`| ${i + 1} | ${f.selfMs.toFixed(1)} | ${f.pct.toFixed(1)} | \`${f.function}\` | ${f.where} |`));
  lines.push('');
  if (s.gatewayInclusive?.length) {
    lines.push('Inclusive time of the gateway\'s own functions (self + everything they call synchronously):');
    lines.push('');
    lines.push('| # | incl. ms | incl. % | function | where |');
    lines.push('|---:|---:|---:|---|---|');
    s.gatewayInclusive.forEach((f, i) => lines.push(`| ${i + 1} | ${f.inclMs.toFixed(1)} | ${f.pct.toFixed(1)} | \`${f.function}\` | ${f.where} |`));
    lines.push('');
  }
  lines.push('Self time per module or package (native frames charged to their nearest JavaScript caller):');
  lines.push('');
  lines.push('| module / package | self ms | self % |');
  lines.push('|---|---:|---:|');
  for (const m of s.byModule) lines.push(`| ${m.module} | ${m.selfMs.toFixed(1)} | ${m.pct.toFixed(1)} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: cpuprofile-top.mjs FILE.cpuprofile [--top N] [--json]\n');
    process.exit(2);
  }
  const topIdx = process.argv.indexOf('--top');
  // --from/--to: CLOCK_MONOTONIC µs, e.g. report.json profile.window.
  const arg = (n) => (process.argv.indexOf(n) > 0 ? Number(process.argv[process.argv.indexOf(n) + 1]) : undefined);
  const window = arg('--from') !== undefined ? { from: arg('--from'), to: arg('--to') ?? Infinity } : undefined;
  const top = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 15;
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), { top, window });
  process.stdout.write(process.argv.includes('--json') ? JSON.stringify(s, null, 2) + '\n' : profileMarkdown(s) + '\n');
}
