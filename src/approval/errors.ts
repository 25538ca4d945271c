/**
 * What a held call ends with when it does not run: one JSON-RPC code (-32011, "approval required and not granted")
 * with `data.status` saying which way it ended, so clients need no new code to recognise any of them.
 */
import type { AuditRecord } from '../audit/index.js';
import { APPROVAL_REQUIRED } from '../errors/codes.js';
import { GatewayError } from '../errors/index.js';
import type { ApprovalRecord } from './types.js';

export type ApprovalAudit = NonNullable<AuditRecord['approval']>;

/** The audit view of an approval: ids, who decided and their comment, never the arguments (the call record has them). */
export function approvalAudit(rec: ApprovalRecord, status: ApprovalAudit['status'] = rec.status): ApprovalAudit {
  const out: ApprovalAudit = { id: rec.id, status };
  if (rec.decision) {
    out.reviewer = { iss: rec.decision.by.iss, sub: rec.decision.by.sub };
    out.comment = rec.decision.comment;
  }
  if (rec.closedReason) out.closed_reason = rec.closedReason;
  return out;
}

export class ApprovalNotGrantedError extends GatewayError {
  /** For the call's audit record; deliberately not part of the client-facing data. */
  readonly approval: ApprovalAudit;

  constructor(message: string, data: Record<string, unknown>, approval: ApprovalAudit) {
    super(APPROVAL_REQUIRED, 'approval', message, { data });
    this.approval = approval;
  }

  static from(rec: ApprovalRecord, reasons: string[], decisionId: string): ApprovalNotGrantedError {
    const base = { reasons, decisionId, approvalId: rec.id, status: rec.status };
    switch (rec.status) {
      case 'denied': {
        const by = rec.decision?.by.name ?? rec.decision?.by.sub ?? 'a reviewer';
        const comment = rec.decision?.comment ?? '';
        return new ApprovalNotGrantedError(`Approval denied by ${by}: ${comment}`, { ...base, reviewer: by, comment }, approvalAudit(rec));
      }
      case 'expired':
        return new ApprovalNotGrantedError(
          `Approval expired: no reviewer decided within ${Math.round((rec.expiresAt - rec.createdAt) / 1000)} s`,
          { ...base, expiredAt: new Date(rec.expiresAt).toISOString() },
          approvalAudit(rec),
        );
      case 'withdrawn':
        return new ApprovalNotGrantedError(`Approval request withdrawn: ${rec.closedReason ?? 'the client went away'}`, base, approvalAudit(rec));
      default:
        // An approved record that cannot be used (already used, or bound to another call) ends here too.
        return new ApprovalNotGrantedError('Approval cannot be used for this call', base, approvalAudit(rec));
    }
  }
}

/** The store could not record or read the approval: the call does not run (fail closed). */
export class ApprovalUnavailableError extends GatewayError {
  constructor(reasons: string[], decisionId: string, cause: unknown) {
    super(APPROVAL_REQUIRED, 'approval', 'Approval required, but the approval store is unavailable; the call was not executed', {
      data: { reasons, decisionId, status: 'unavailable' },
      cause,
    });
  }
}

/**
 * For the call's audit record: the approval an error carries, if any (a call that was not granted, or one refused
 * at release, see release.ts).
 */
export function approvalOfError(err: unknown): ApprovalAudit | undefined {
  if (!(err instanceof GatewayError)) return undefined;
  const a = (err as GatewayError & { approval?: unknown }).approval;
  return a && typeof a === 'object' ? (a as ApprovalAudit) : undefined;
}
