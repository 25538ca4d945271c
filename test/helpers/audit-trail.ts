/** The audit trail from outside: `portcullis audit verify`, the backlog in /readyz, and traffic that makes records. */
import { runCli } from './gateway.js';
import { raw, rawCall, rawList, rawSession } from './mcp.js';

export interface VerifyOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The parsed --json result (absent when the command failed before verifying). */
  result?: {
    ok: boolean;
    entries: number;
    records: number;
    checkpoints: number;
    firstSeq?: number;
    lastSeq?: number;
    problem?: { where: string; seq?: number; decision_id?: string; reason: string };
    warnings: string[];
  };
}

/** `portcullis audit verify <args> --json`; the key, if any, is read from the named environment variable. */
export async function verifyTrail(args: string[]): Promise<VerifyOutcome> {
  const r = await runCli(['audit', 'verify', ...args, '--json']);
  let result: VerifyOutcome['result'];
  try {
    result = JSON.parse(r.stdout) as VerifyOutcome['result'];
  } catch {
    result = undefined;
  }
  return { ...r, result };
}

export interface AuditBacklogView {
  records: number;
  bytes: number;
  sinks: Record<string, { state: string; queued: number; spooled: number; spoolBytes: number; full: boolean; dropped: number; lastError?: string }>;
}

/** The audit backlog as /readyz reports it. */
export async function auditBacklog(base: string): Promise<AuditBacklogView> {
  const r = await raw(`${base}/readyz`);
  return (r.json as { audit: AuditBacklogView }).audit;
}

/** `n` echo calls on one session; returns the raw responses. */
export async function driveCalls(url: string, token: string, n: number, tag: string): Promise<Array<Awaited<ReturnType<typeof rawCall>>>> {
  const sid = await rawSession(url, token);
  const out = [];
  for (let i = 0; i < n; i++) out.push(await rawCall(url, token, sid, 'web__echo', { text: `${tag} ${i}` }));
  await rawList(url, token, sid);
  return out;
}
