/** The subject as an audit record shows it: who, never the token or the full claim set. */
import type { AuditRecord } from '../audit/index.js';
import type { Subject } from '../identity/index.js';

export function auditSubject(s: Subject): AuditRecord['subject'] {
  return { iss: s.iss, sub: s.sub, client_id: s.client_id, roles: s.roles, anonymous: s.anonymous };
}
