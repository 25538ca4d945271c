/** Approval (stage 5): hold, refuse or release calls that policy marks needs_approval. */
export { createApprovalGate, type AwaitApproval, type ApprovalRequest } from './approval-gate.js';
