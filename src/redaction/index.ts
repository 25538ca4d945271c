/** Redaction (stage 9): drop and mask what policy says, in arguments and in results. */
export { redact, emptyReport, type RedactionReport } from './redact.js';
export { scrubSecrets } from './scrub-secrets.js';
