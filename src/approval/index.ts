/** Approval (stage 5): hold, refuse or release calls that policy marks needs_approval; the reviewers' API and console. */
export { approvalProgress, createApprovalGate, createRefusingGate, type AwaitApproval, type ApprovalRequest, type ApprovalGate } from './approval-gate.js';
export { createApprovals, type Approvals, type ApprovalsOptions } from './approvals.js';
export { approvalOfError, type ApprovalAudit } from './errors.js';
export { ReleaseDeniedError, type Redecide, type ReleaseEvaluation, type Released } from './release.js';
export type { ApprovalRecord, ApprovalStore, ApprovalStatus } from './types.js';
