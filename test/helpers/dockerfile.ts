/**
 * A small Dockerfile reader for static checks (no Docker engine runs on our machines): instructions with their
 * continuation lines joined, grouped into stages, with ARG defaults substituted in FROM; and the .dockerignore
 * matcher Docker uses (last matching pattern wins, `!` re-includes, `**` spans directories).
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  op: string;
  /** The raw argument text. */
  args: string;
  /** Options such as --from=build, --chown=... */
  flags: Record<string, string>;
  /** The remaining words (shell form), or the JSON array (exec form). */
  words: string[];
  json: boolean;
}

export interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

function parseInstruction(line: string): Instruction {
  const m = /^(\S+)\s*(.*)$/s.exec(line)!;
  const op = m[1]!.toUpperCase();
  let rest = m[2]!.trim();
  const flags: Record<string, string> = {};
  if (op === 'COPY' || op === 'ADD' || op === 'RUN' || op === 'FROM') {
    let f: RegExpExecArray | null;
    while ((f = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest))) {
      flags[f[1]!] = f[2] ?? 'true';
      rest = rest.slice(f[0].length);
    }
  }
  // HEALTHCHECK's options come before CMD; keep them in args, and read the exec-form array after CMD.
  const jsonPart = op === 'HEALTHCHECK' ? rest.replace(/^.*?\bCMD\s+/s, '') : rest;
  if (jsonPart.startsWith('[')) {
    try {
      return { op, args: rest, flags, words: JSON.parse(jsonPart) as string[], json: true };
    } catch {
      // not JSON after all: shell form
    }
  }
  return { op, args: rest, flags, words: rest.split(/\s+/).filter(Boolean), json: false };
}

export function parseDockerfile(file: string): { args: Record<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (current === '' && /^\s*(#|$)/.test(raw)) continue;
    if (/^\s*#/.test(raw)) continue; // comment lines inside a continued instruction
    if (/\\\s*$/.test(raw)) {
      current += raw.replace(/\\\s*$/, ' ');
      continue;
    }
    logical.push((current + raw).trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const ins = parseInstruction(line);
    if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split('=', 2);
      globalArgs[k!] = v ?? '';
      continue;
    }
    if (ins.op === 'FROM') {
      const image = ins.words[0]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => globalArgs[a ?? b] ?? '');
      const as = ins.words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ name: as >= 0 ? ins.words[as + 1]! : String(stages.length), image, instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`${file}: ${ins.op} before the first FROM`);
    stages.at(-1)!.instructions.push(ins);
  }
  return { args: globalArgs, stages };
}

/** Docker's .dockerignore semantics for a path relative to the context: true when the path is left out. */
export function dockerignored(patterns: string[], path: string): boolean {
  const toRegex = (p: string) =>
    new RegExp(
      '^' +
        p
          .replace(/\/+$/, '')
          .split(/(\*\*\/?|\*|\?)/)
          .map((part) => (part === '**/' || part === '**' ? '(?:.*/)?' + (part === '**' ? '.*' : '') : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
          .join('') +
        '(?:/.*)?$',
    );
  let excluded = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/^\//, '');
    if (toRegex(pattern).test(path)) excluded = !negate;
  }
  return excluded;
}
