/**
 * Tells reviewers about a pending approval: a JSON POST signed with HMAC-SHA256, retried with backoff.
 * The payload is built from the stored record, whose arguments are already redacted: raw arguments never leave.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from '../telemetry/logger.js';
import type { ApprovalRecord } from './types.js';

export interface WebhookOptions {
  url: string;
  secret: string;
  maxAttempts: number;
  timeoutMs: number;
  initialBackoffMs: number;
  /** The console link for an approval (absolute URL), when known. */
  link: (id: string) => string | undefined;
  log: Logger;
}

export interface WebhookNotifier {
  announce(rec: ApprovalRecord): void;
  /** Stops pending retries; resolves once in-flight deliveries have ended. */
  stop(): Promise<void>;
}

export const SIGNATURE_HEADER = 'portcullis-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed too, so a receiver can refuse
 * replays older than a few minutes (the scheme Stripe and Slack use).
 */
export function signPayload(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export function webhookPayload(rec: ApprovalRecord, link: string | undefined): Record<string, unknown> {
  return {
    type: 'approval.pending',
    delivery_id: randomUUID(),
    approval: {
      id: rec.id,
      status: rec.status,
      server: rec.server,
      tool: rec.tool,
      requester: { iss: rec.requester.iss, sub: rec.requester.sub, client_id: rec.requester.client_id, name: rec.requester.name },
      arguments: rec.arguments,
      reasons: rec.reasons,
      approvers: rec.approvers,
      created_at: new Date(rec.createdAt).toISOString(),
      expires_at: new Date(rec.expiresAt).toISOString(),
      console_url: link ?? null,
    },
  };
}

const RETRYABLE = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;

export function createWebhookNotifier(opts: WebhookOptions): WebhookNotifier {
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch {
    throw new Error('webhook: url is not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('webhook: url must be http(s)');
  if (!opts.secret) throw new Error('webhook: a signing secret is required');
  if (!(opts.maxAttempts >= 1)) throw new Error('webhook: maxAttempts must be >= 1');
  const { log } = opts;
  const stopper = new AbortController();
  const inflight = new Set<Promise<void>>();

  async function deliver(rec: ApprovalRecord): Promise<void> {
    const payload = webhookPayload(rec, opts.link(rec.id));
    const body = JSON.stringify(payload);
    let delay = opts.initialBackoffMs;
    for (let attempt = 1; attempt <= opts.maxAttempts; attempt++) {
      if (stopper.signal.aborted) return;
      let outcome: string;
      try {
        const res = await fetch(opts.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'portcullis-webhook/1',
            'portcullis-event': 'approval.pending',
            'portcullis-delivery': String(payload.delivery_id),
            [SIGNATURE_HEADER]: signPayload(opts.secret, body, Math.floor(Date.now() / 1000)),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.any([stopper.signal, AbortSignal.timeout(opts.timeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        outcome = `HTTP ${res.status}`;
        if (!RETRYABLE(res.status)) {
          log.warn('approval webhook refused; not retrying', { approvalId: rec.id, status: res.status });
          return;
        }
      } catch (err) {
        outcome = (err as Error).name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (err as Error).message;
      }
      if (attempt === opts.maxAttempts) {
        log.error('approval webhook failed; giving up', { approvalId: rec.id, attempts: attempt, last: outcome });
        return;
      }
      log.warn('approval webhook failed; will retry', { approvalId: rec.id, attempt, last: outcome, retryInMs: delay });
      // Jitter keeps several replicas from retrying against a recovering receiver in lock-step.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay + Math.floor(Math.random() * delay * 0.2));
        stopper.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      delay *= 2;
    }
  }

  return {
    announce(rec) {
      const p = deliver(rec).catch((err: unknown) => {
        log.error('approval webhook crashed', { error: String(err) });
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    },
    async stop() {
      stopper.abort();
      await Promise.allSettled([...inflight]);
    },
  };
}
