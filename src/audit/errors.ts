/** The refusal a new call gets while the audit trail cannot take it (audit.onFull: fail-closed). */
import { AUDIT_UNAVAILABLE } from '../errors/codes.js';
import { GatewayError } from '../errors/index.js';

export class AuditUnavailableError extends GatewayError {
  constructor() {
    super(
      AUDIT_UNAVAILABLE,
      'audit',
      'Audit trail unavailable: an audit sink is down and its spool is full, so new calls are refused until it recovers (audit.onFull: fail-closed)',
      { httpStatus: 200 },
    );
  }
}
