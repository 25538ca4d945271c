/** The subject as an audit record shows it: who, never the token or the full claim set. */
import type { AuditRecord } from './audit.js';

/** Structural, so the audit trail needs nothing of identity but these fields. */
export function auditSubject(s: { iss?: string; sub: string; client_id?: string; roles: string[]; anonymous: boolean }): AuditRecord['subject'] {
  return { iss: s.iss, sub: s.sub, client_id: s.client_id, roles: s.roles, anonymous: s.anonymous };
}
