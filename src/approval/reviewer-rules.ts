/** Who may see and who may decide an approval: approver groups (or roles), and never the requester (four eyes). */
import type { Subject } from '../identity/index.js';
import type { ApprovalRecord } from './types.js';

export type RefusalCode = 'unauthenticated' | 'not_an_approver' | 'own_request' | 'already_decided' | 'expired';

export interface Refusal {
  httpStatus: 401 | 403 | 409;
  error: RefusalCode;
  message: string;
}

export function isApprover(s: Subject, rec: ApprovalRecord): boolean {
  if (s.anonymous) return false;
  return rec.approvers.some((g) => s.groups.includes(g) || s.roles.includes(g));
}

export function isRequester(s: Subject, rec: ApprovalRecord): boolean {
  return !s.anonymous && s.principal === rec.requester.principal;
}

/** Approvers see the approvals they could decide; requesters see their own (to follow them), and no one else sees any. */
export function mayView(s: Subject, rec: ApprovalRecord): boolean {
  return isApprover(s, rec) || isRequester(s, rec);
}

/**
 * The order is the order of usefulness to the person refused: "it's yours" before "you're not in the group", and
 * both before the state of the record (a non-approver learns nothing about how it ended).
 */
export function whyCannotDecide(s: Subject, rec: ApprovalRecord, now: number): Refusal | null {
  if (s.anonymous) return { httpStatus: 401, error: 'unauthenticated', message: 'anonymous callers cannot review approvals' };
  if (isRequester(s, rec)) return { httpStatus: 403, error: 'own_request', message: 'you requested this call; someone else must review it' };
  if (!isApprover(s, rec)) {
    return { httpStatus: 403, error: 'not_an_approver', message: `only members of ${rec.approvers.join(', ')} may review this call` };
  }
  if (rec.status !== 'pending') return { httpStatus: 409, error: 'already_decided', message: `this approval is already ${rec.status}` };
  if (now >= rec.expiresAt) return { httpStatus: 409, error: 'expired', message: 'this approval has expired' };
  return null;
}
