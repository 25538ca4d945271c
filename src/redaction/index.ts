/** Redaction (stage 9): drop and mask what policy says, in arguments and in results. */
export { redact, emptyReport, type RedactionReport } from './redact.js';
export { scrubSecrets, compileScrubber, CREDENTIAL_REPLACEMENT, type Scrubber } from './scrub-secrets.js';
export { scrubbingRelay, scrubValue, scrubThrown } from './scrub-outbound.js';
