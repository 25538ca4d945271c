/** Turns the `audit:` and `decisionLogs:` config sections into sink options, reading the secrets they name from the environment. */
import type { AuditConfig, DecisionLogsConfig } from '../config/index.js';
import type { AuditOptions } from './audit.js';
import type { DecisionLogOptions } from './decision-log.js';
import type { WorkerLog } from './sink-worker.js';

function fromEnv(field: string, name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${field}: environment variable ${name} is not set`);
  return v;
}

export function auditOptionsFromConfig(a: AuditConfig, log: WorkerLog): AuditOptions {
  const opts: AuditOptions = {
    file: a.file,
    stdout: a.stdout,
    hmacKey: a.hmacKeyEnv ? process.env[a.hmacKeyEnv] : undefined,
    maxFileBytes: a.maxFileBytes,
    maxFiles: a.maxFiles,
    batch: a.batch,
    spool: a.spool,
    onFull: a.onFull,
    log,
  };
  if (a.postgres) {
    const url = a.postgres.url ?? fromEnv('audit.postgres.urlEnv', a.postgres.urlEnv!);
    opts.postgres = { url, table: a.postgres.table };
  }
  if (a.checkpoint) {
    opts.checkpoint = { key: fromEnv('audit.checkpoint.keyEnv', a.checkpoint.keyEnv), everyRecords: a.checkpoint.everyRecords, everySeconds: a.checkpoint.everySeconds };
  }
  return opts;
}

export function decisionLogOptionsFromConfig(
  d: DecisionLogsConfig,
  extra: { version: string; hash: (v: string) => string; log: WorkerLog },
): DecisionLogOptions {
  const headers: Record<string, string> = { ...d.headers };
  for (const [h, env] of Object.entries(d.headersEnv)) headers[h] = fromEnv(`decisionLogs.headersEnv.${h}`, env);
  return {
    url: d.url,
    maxBatch: d.maxBatch,
    maxDelayMs: d.maxDelayMs,
    headers,
    labels: { ...d.labels },
    bufferMaxEvents: d.bufferMaxEvents,
    timeoutMs: d.timeoutMs,
    maxRetryDelayMs: d.maxRetryDelayMs,
    ...extra,
  };
}
