/**
 * The audit trail: exactly one structured record per decision, written with winston.
 * Arguments appear only after redaction; tokens never; correlatable ids (session, jti) only as HMACs.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';

export type AuditOutcome = 'allow' | 'deny' | 'approval_required' | 'error';

export interface AuditRecord {
  decision_id: string;
  timestamp?: string;
  /** e.g. tools/call, tools/list, authenticate, initialize */
  action: string;
  outcome: AuditOutcome;
  reasons: string[];
  subject: { iss?: string; sub: string; client_id?: string; roles: string[]; anonymous: boolean } | null;
  session?: string | null;
  endpoint?: string;
  server?: string;
  tool?: string;
  /** The prompt name or resource URI a non-tool decision was about. */
  target?: string;
  arguments?: unknown;
  erased?: string[];
  /** The credential profile and a label of the lease a call carried; never the secret. */
  credential?: { profile: string; lease?: string };
  masked?: Record<string, number>;
  bundle?: { revision: string; generation: number } | null;
  error_code?: number;
  /** Internal detail of a failure (e.g. the policy evaluation error); never sent to the caller. */
  error_detail?: string;
  stage?: string;
  visible_tools?: number;
  latency_ms: { total: number; policy?: number; upstream?: number };
  upstream_error?: boolean;
  remote?: string;
  /** Human approval of this call, or the approval a reviewer action concerns (src/approval). */
  approval?: {
    id: string;
    status: 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn';
    reviewer?: { iss?: string; sub: string };
    comment?: string;
    closed_reason?: string;
    requester?: { iss?: string; sub: string; client_id?: string };
    call_hash?: string;
  };
}

export interface AuditSink {
  record(rec: AuditRecord): void;
  /** HMAC with the deployment key: lets records be correlated without storing the identifier itself. */
  hash(value: string): string;
  close(): Promise<void>;
}

export interface AuditOptions {
  file?: string;
  stdout: boolean;
  hmacKey?: string;
}

export function createAuditSink(opts: AuditOptions): AuditSink {
  const transports: winston.transport[] = [];
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    transports.push(new winston.transports.File({ filename: opts.file }));
  }
  if (opts.stdout) transports.push(new winston.transports.Stream({ stream: process.stdout }));
  const logger = winston.createLogger({
    level: 'info',
    // The record is the message: no level/message wrapper, one JSON object per line.
    format: winston.format.printf((info) => JSON.stringify(info.record)),
    transports,
    silent: transports.length === 0,
  });
  const key = opts.hmacKey ?? randomBytes(32).toString('hex');
  return {
    record(rec) {
      rec.timestamp ??= new Date().toISOString();
      // log({level, …}), not info({…}): winston 3.19's info(object) keeps only message and level, dropping the record.
      logger.log({ level: 'info', message: '', record: rec });
    },
    hash(value) {
      return `hmac-sha256:${createHmac('sha256', key).update(value).digest('hex').slice(0, 32)}`;
    },
    close() {
      return new Promise((resolve) => {
        if (transports.length === 0) return resolve();
        logger.on('finish', () => resolve());
        logger.end();
        setTimeout(resolve, 2000).unref();
      });
    },
  };
}
