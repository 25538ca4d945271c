/** Audit (stage 10): one record per decision. */
export { createAuditSink, type AuditSink, type AuditRecord, type AuditOutcome } from './audit.js';
