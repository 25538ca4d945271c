/**
 * The verified TLS client certificate as identity (auth.clientCertificate): `instead` makes the certificate the
 * subject (sub = CN, iss = mtls:<issuer DN>); `alongside` keeps the bearer-token subject and adds the certificate
 * as claims.client_certificate so that policy can require both. Only a certificate the listener verified against
 * listen.tls.clientCaFile counts (socket.authorized); anything else is as if no certificate had been sent.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { ClientCertificateAuthConfig } from '../config/index.js';
import { AuthenticationError } from '../errors/index.js';
import type { Authenticate } from './authenticate.js';
import { subjectFromClaims, type Subject } from './subject.js';

/** What policy sees in input.subject.claims.client_certificate. */
export interface ClientCertificateInfo {
  /** Subject DN, e.g. "CN=agent-a,OU=analyst,O=Example". */
  subject: string;
  issuer: string;
  cn: string;
  fingerprint256: string;
  serial: string;
  san: { dns: string[]; uri: string[]; email: string[]; ip: string[] };
}

// A connection carries one certificate for its whole life: read and parse it once per socket, not per request.
const perSocket = new WeakMap<Socket, ClientCertificateInfo | null>();

/** The verified client certificate of a TLS connection, or null (plain HTTP, none sent, or not verified). */
export function verifiedClientCertificate(socket: Socket | undefined): ClientCertificateInfo | null {
  if (!socket) return null;
  const known = perSocket.get(socket);
  if (known !== undefined) return known;
  const tls = socket as TLSSocket;
  let info: ClientCertificateInfo | null = null;
  if (tls.encrypted && tls.authorized) {
    const c = tls.getPeerCertificate(false);
    if (c && Object.keys(c).length > 0) info = describeCertificate(c);
  }
  perSocket.set(socket, info);
  return info;
}

function dn(name: PeerCertificate['subject'] | undefined): string {
  if (!name) return '';
  return Object.entries(name)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${String(x)}`))
    .join(',');
}

function first(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

function describeCertificate(c: PeerCertificate): ClientCertificateInfo {
  const san = { dns: [] as string[], uri: [] as string[], email: [] as string[], ip: [] as string[] };
  for (const part of (c.subjectaltname ?? '').split(/,\s*/)) {
    const i = part.indexOf(':');
    if (i < 0) continue;
    const kind = part.slice(0, i);
    const value = part.slice(i + 1);
    if (kind === 'DNS') san.dns.push(value);
    else if (kind === 'URI') san.uri.push(value);
    else if (kind === 'email') san.email.push(value);
    else if (kind === 'IP Address') san.ip.push(value);
  }
  return {
    subject: dn(c.subject),
    issuer: dn(c.issuer),
    cn: first(c.subject?.CN as string | string[] | undefined),
    fingerprint256: c.fingerprint256,
    serial: c.serialNumber,
    san,
  };
}

/** Wraps the bearer-token authenticator according to auth.clientCertificate. */
export function withClientCertificate(inner: Authenticate, cc: ClientCertificateAuthConfig): Authenticate {
  if (cc.mode === 'instead') {
    const subjects = new WeakMap<ClientCertificateInfo, Subject>();
    return async function authenticateClientCertificate(_authorization, _hasQueryToken, socket) {
      const cert = verifiedClientCertificate(socket);
      if (!cert) throw new AuthenticationError(401, 'invalid_request', 'a verified TLS client certificate is required');
      if (!cert.cn) throw new AuthenticationError(401, 'invalid_request', 'the client certificate has no CN');
      let s = subjects.get(cert);
      if (!s) {
        const ou = cc.rolesFromOU ? ouValues(socket as TLSSocket) : [];
        const roles = [...new Set([...ou, ...(cc.roles[cert.cn] ?? [])])];
        s = subjectFromClaims({ iss: `mtls:${cert.issuer}`, sub: cert.cn, roles, san: cert.san, client_certificate: cert }, 'roles', 'groups');
        subjects.set(cert, s);
      }
      return s;
    };
  }
  // alongside: the token's subject, plus the certificate when there is one. Derived subjects are cached per
  // (token subject, certificate), so the list-decision cache keeps working.
  const derived = new WeakMap<Subject, Map<string, Subject>>();
  return async function authenticateWithClientCertificate(authorization, hasQueryToken, socket) {
    const base = await inner(authorization, hasQueryToken, socket);
    const cert = verifiedClientCertificate(socket);
    if (!cert) return base;
    let m = derived.get(base);
    if (!m) derived.set(base, (m = new Map()));
    let s = m.get(cert.fingerprint256);
    if (!s) {
      s = {
        ...base,
        claims: { ...base.claims, client_certificate: cert },
        fingerprint: createHash('sha256').update(`${base.fingerprint}\u0000${cert.fingerprint256}`).digest('base64url'),
      };
      m.set(cert.fingerprint256, s);
    }
    return s;
  };
}

function ouValues(socket: TLSSocket): string[] {
  const ou = socket.getPeerCertificate(false).subject?.OU as string | string[] | undefined;
  return ou === undefined ? [] : Array.isArray(ou) ? ou : [ou];
}
