/** Audit (stage 10): one record per decision, hash-chained per sink; OPA-compatible decision logs. */
export {
  createAuditSink,
  type AuditSink,
  type AuditRecord,
  type AuditOutcome,
  type AuditOptions,
  type AuditBacklog,
  type AuditFlushResult,
} from './audit.js';
export { AuditUnavailableError } from './errors.js';
export { auditSubject } from './subject.js';
export { auditOptionsFromConfig, decisionLogOptionsFromConfig } from './from-config.js';
export { createDecisionLogShipper, DecisionLogShipper, type DecisionLogEvent, type DecisionLogStatus } from './decision-log.js';
export { verifyFiles, verifyPostgres, type VerifyResult } from './verify.js';
