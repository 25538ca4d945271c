/** crypto.*, io.jwt.decode and the hex/base64url helpers, with OPA's semantics (v1/topdown/crypto.go, tokens.go, encoding.go). */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BuiltinError } from './civil.js';
import { parseJSONLossless } from './json-lossless.js';
import { RawJSON, str, type Builtin } from './values.js';

const digest = (alg: string) => (x: unknown) => createHash(alg).update(str(x), 'utf8').digest('hex');
const hmac = (alg: string) => (x: unknown, key: unknown) => createHmac(alg, str(key, 2)).update(str(x), 'utf8').digest('hex');

/** OPA's base64url.decode: padding is optional (RFC 7515 appendix C), the alphabet is strict. */
function base64UrlDecode(s: string): Buffer {
  if (!s.endsWith('=')) {
    const r = s.length % 4;
    if (r === 1) throw new BuiltinError('illegal base64url string');
    if (r === 2) s += '==';
    if (r === 3) s += '=';
  }
  // Go's decoder skips CR and LF anywhere; everything else must be the URL alphabet with padding only at the end.
  s = s.replace(/[\r\n]/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9_-]*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/.test(s)) throw new BuiltinError('illegal base64url data');
  return Buffer.from(s, 'base64url');
}

function jsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  const v = parseJSONLossless(bytes.toString('utf8'));
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof RawJSON) throw new BuiltinError(`${what} was not a JSON object`);
  return v as Record<string, unknown>;
}

/** io.jwt.decode: [header, payload, signature as hex]; no verification. A cty "JWT" payload is decoded in turn. */
function jwtDecode(token: unknown): unknown {
  const t = str(token);
  if (!t.includes('.')) throw new BuiltinError('encoded JWT had no period separators');
  const parts = t.split('.');
  if (parts.length !== 3) throw new BuiltinError(`encoded JWT must have 3 sections, found ${parts.length}`);
  const header = jsonObject(base64UrlDecode(parts[0]!), 'JWT header');
  if (Object.prototype.hasOwnProperty.call(header, 'enc')) throw new BuiltinError('JWT is a JWE object, which is not supported');
  const payload = base64UrlDecode(parts[1]!);
  if (header.cty === 'JWT') return jwtDecode(payload.toString('utf8').replace(/^["']+|["']+$/g, ''));
  const claims = jsonObject(payload, 'JWT payload');
  const signature = base64UrlDecode(parts[2]!).toString('hex');
  return [header, claims, signature];
}

export const cryptoBuiltins: Record<string, Builtin> = {
  'crypto.md5': digest('md5'),
  'crypto.sha1': digest('sha1'),
  'crypto.sha256': digest('sha256'),
  'crypto.hmac.md5': hmac('md5'),
  'crypto.hmac.sha1': hmac('sha1'),
  'crypto.hmac.sha256': hmac('sha256'),
  'crypto.hmac.sha512': hmac('sha512'),
  'crypto.hmac.equal': (a, b) => {
    // Constant time over equal lengths, like Go's hmac.Equal; different lengths are simply unequal.
    const x = Buffer.from(str(a), 'utf8');
    const y = Buffer.from(str(b, 2), 'utf8');
    return x.length === y.length && timingSafeEqual(x, y);
  },
  'io.jwt.decode': jwtDecode,
  'hex.encode': (x) => Buffer.from(str(x), 'utf8').toString('hex'),
  'hex.decode': (x) => {
    const s = str(x);
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) throw new BuiltinError('invalid hex');
    return Buffer.from(s, 'hex').toString('utf8');
  },
  'base64url.encode_no_pad': (x) => Buffer.from(str(x), 'utf8').toString('base64url'),
};
