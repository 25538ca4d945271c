/**
 * Scrubbing injected credentials from everything of a call that leaves towards the client, not only its result:
 * the upstream's JSON-RPC error, an error the gateway built from the upstream's words (an HTTP error body), and
 * the notifications and requests the upstream sends while the call runs (progress, log messages, sampling).
 */
import type { Relay } from '../upstream/index.js';
import type { RedactionReport } from './report.js';
import type { Scrubber } from './scrub-secrets.js';

function count(report: RedactionReport, n: number): void {
  if (n > 0) report.masked.credential = (report.masked.credential ?? 0) + n;
}

/** A relay that scrubs each message before it reaches the client. */
export function scrubbingRelay(relay: Relay, scrubber: Scrubber, report: RedactionReport): Relay {
  return {
    notify(n) {
      const r = scrubber.value(n);
      count(report, r.count);
      relay.notify(r.value);
    },
    request(method, params) {
      const r = scrubber.value(params);
      count(report, r.count);
      return relay.request(method, r.value);
    },
  };
}

/** A result or an upstream's JSON-RPC error body, scrubbed in place and counted in the report. */
export function scrubValue<T>(value: T, scrubber: Scrubber, report: RedactionReport): T {
  const r = scrubber.value(value);
  count(report, r.count);
  return r.value;
}

/**
 * An error on its way to the client, the log and the audit record, scrubbed in place: its message, its client-safe
 * data and its cause's message (an upstream's HTTP error body is quoted in all of them).
 */
export function scrubThrown(err: unknown, scrubber: Scrubber, report: RedactionReport): unknown {
  if (!(err instanceof Error)) return err;
  const m = scrubber.text(err.message);
  count(report, m.count);
  err.message = m.text;
  const withData = err as { data?: unknown };
  if (withData.data !== undefined && withData.data !== null && typeof withData.data === 'object') {
    count(report, scrubber.value(withData.data).count);
  }
  if (err.cause instanceof Error) {
    err.cause.message = scrubber.text(err.cause.message).text;
    if (typeof err.cause.stack === 'string') err.cause.stack = scrubber.text(err.cause.stack).text;
  }
  if (typeof err.stack === 'string') err.stack = scrubber.text(err.stack).text;
  return err;
}
