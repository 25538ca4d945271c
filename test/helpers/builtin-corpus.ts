/**
 * The builtin corpus (test/cases/builtins/corpus.yaml) evaluated twice: by the pinned OPA CLI (topdown, the reference)
 * and by the gateway's WASM loader with its host builtins, from one generated Rego module. Each case is one key of
 * `data.builtins_corpus.r`, holding json.marshal of the expression, so numbers cross both paths as exact text.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseBundle } from '../../src/policy/bundle.js';
import { loadPolicyWithBuiltins } from '../../src/policy/builtins.js';
import { parseJSONLossless } from '../../src/policy/builtins/json-lossless.js';
import { RawJSON } from '../../src/policy/builtins/values.js';
import { ROOT } from './paths.js';

export const OPA = join(ROOT, '.tools', 'bin', 'opa');
export const CORPUS = join(ROOT, 'test', 'cases', 'builtins', 'corpus.yaml');
/** The input both sides get: the policy input's request.time, which freezes time.now_ns in the gateway. */
export const CORPUS_INPUT = { request: { time: '2026-11-24T01:00:00.123Z' } };

export interface BuiltinCase {
  /** What the case is about, when the expression alone does not say. */
  note?: string;
  expr: string;
  /** JSON text of the result, or "undefined". */
  want?: string;
  /** "double": equal once both are read as JavaScript numbers (see the corpus header). */
  precision?: 'double';
}

export function loadCorpus(): BuiltinCase[] {
  return (parse(readFileSync(CORPUS, 'utf8')) as { cases: BuiltinCase[] }).cases;
}

export function corpusModule(cases: BuiltinCase[]): string {
  return ['package builtins_corpus', '', ...cases.map((c, i) => `r["${i}"] := json.marshal(${c.expr})`), ''].join('\n');
}

/** data.builtins_corpus.r from `opa eval`: case index → JSON text (absent: undefined). */
export function evalWithOpa(dir: string, cases: BuiltinCase[]): Record<string, string> {
  const file = join(dir, 'corpus.rego');
  writeFileSync(file, corpusModule(cases));
  writeFileSync(join(dir, 'input.json'), JSON.stringify(CORPUS_INPUT));
  const out = execFileSync(OPA, ['eval', '--format', 'json', '-d', file, '-i', join(dir, 'input.json'), 'data.builtins_corpus.r'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const rs = JSON.parse(out) as { result?: Array<{ expressions: Array<{ value: Record<string, string> }> }> };
  return rs.result?.[0]?.expressions[0]?.value ?? {};
}

/** The same from the gateway's loader (loadPolicyWithBuiltins) over a bundle built with `opa build -t wasm`. */
export async function evalWithGateway(dir: string, cases: BuiltinCase[]): Promise<Record<string, string>> {
  const file = join(dir, 'corpus-wasm.rego');
  writeFileSync(file, corpusModule(cases));
  const bundle = join(dir, 'corpus.tar.gz');
  execFileSync(OPA, ['build', '-t', 'wasm', '-e', 'builtins_corpus/r', '-o', bundle, file], { encoding: 'utf8' });
  const { wasm } = await parseBundle(readFileSync(bundle));
  const policy = await loadPolicyWithBuiltins(wasm, { initial: 5, maximum: 1024 });
  const rs = policy.evaluate(CORPUS_INPUT, 'builtins_corpus/r') as Array<{ result?: Record<string, string> }>;
  return rs[0]?.result ?? {};
}

/** A JSON text in a canonical form: numbers as exact decimals (1.50 and 1.5000000000 are one number), keys sorted. */
export function canonical(text: string): string {
  const walk = (v: unknown): unknown => {
    if (v instanceof RawJSON) return { $num: canonicalNumber(v.text) };
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, walk((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return JSON.stringify(walk(parseJSONLossless(text)));
}

function canonicalNumber(t: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t)!;
  let digits = (m[2]! + (m[3] ?? '')).replace(/^0+/, '');
  let exp = Number(m[4] ?? 0) - (m[3] ?? '').length;
  if (digits === '') return '0';
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    exp++;
  }
  return `${m[1]}${digits}e${exp}`;
}

/** Numbers read as JavaScript doubles (for precision: double cases). */
export function asDoubles(text: string): string {
  return JSON.stringify(JSON.parse(text));
}
