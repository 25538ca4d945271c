/**
 * semver.compare and semver.is_valid with OPA's grammar: Semantic Versioning 2.0.0 exactly (no leading zeros in
 * numbers or numeric pre-release identifiers), an optional leading "v", and numbers that fit an int64.
 * Written here rather than with the `semver` package because their grammars differ at the edges: `semver` trims
 * surrounding spaces, and caps numbers at 2^53-1, where OPA refuses " 1.2.3" and accepts up to 2^63-1; a policy
 * must get OPA's answer.
 */
import { BuiltinError } from './civil.js';
import { str, type Builtin } from './values.js';

const NUM = '0|[1-9]\\d*';
const PRE_ID = `(?:${NUM}|\\d*[A-Za-z-][0-9A-Za-z-]*)`;
const SEMVER = new RegExp(`^v?(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`);
const INT64_MAX = 2n ** 63n - 1n;

interface Version { major: bigint; minor: bigint; patch: bigint; pre: string[] }

export function parseSemver(version: string): Version {
  const m = SEMVER.exec(version);
  if (!m) throw new BuiltinError(`string ${version} is not a valid SemVer`);
  const [major, minor, patch] = [BigInt(m[1]!), BigInt(m[2]!), BigInt(m[3]!)];
  if (major > INT64_MAX || minor > INT64_MAX || patch > INT64_MAX) throw new BuiltinError(`string ${version} is not a valid SemVer`);
  return { major, minor, patch, pre: m[4] ? m[4].split('.') : [] };
}

const sign = <T extends bigint | string | number>(a: T, b: T) => (a > b ? 1 : a < b ? -1 : 0);
const numeric = (s: string) => /^\d+$/.test(s);

/** Precedence per semver.org §11; build metadata is ignored. */
export function compareSemver(x: Version, y: Version): number {
  const c = sign(x.major, y.major) || sign(x.minor, y.minor) || sign(x.patch, y.patch);
  if (c !== 0) return c;
  // A version without a pre-release ranks above the same version with one.
  if (x.pre.length === 0 || y.pre.length === 0) return x.pre.length === y.pre.length ? 0 : x.pre.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const a = x.pre[i]!, b = y.pre[i]!;
    const an = numeric(a), bn = numeric(b);
    // Numeric identifiers rank below alphanumeric ones.
    if (an !== bn) return an ? -1 : 1;
    const r = an ? sign(BigInt(a), BigInt(b)) : sign(a, b);
    if (r !== 0) return r;
  }
  return sign(x.pre.length, y.pre.length);
}

export const semverBuiltins: Record<string, Builtin> = {
  'semver.compare': (a, b) => compareSemver(parseSemver(str(a)), parseSemver(str(b, 2))),
  'semver.is_valid': (a) => {
    if (typeof a !== 'string') return false;
    try {
      parseSemver(a);
      return true;
    } catch {
      return false;
    }
  },
};
