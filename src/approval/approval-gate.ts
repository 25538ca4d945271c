/**
 * The approval stage: what happens when policy says a call needs a human.
 * Until a reviewer workflow is configured, such a call is refused with a reason that says approval is required;
 * it never runs unreviewed.
 */
import { ApprovalRequiredError } from '../errors/index.js';
import type { Decision } from '../policy/index.js';

export interface ApprovalRequest {
  decisionId: string;
  decision: Decision;
}

/** Resolves when the call may proceed; throws when it may not. */
export type AwaitApproval = (req: ApprovalRequest) => Promise<void>;

export function createApprovalGate(): AwaitApproval {
  return async function awaitApproval(req) {
    throw new ApprovalRequiredError(req.decision.reasons, req.decisionId, {
      approvers: req.decision.approval?.approvers ?? [],
      hint: 'this gateway has no approval workflow configured; the call was not executed',
    });
  };
}
