/**
 * The approval stage: a call that policy marks needs_approval is held here, with the client's request open, until a
 * reviewer approves it (the call then runs, once), denies it, it expires, or the client withdraws it.
 */
import { randomUUID } from 'node:crypto';
import { ApprovalRequiredError } from '../errors/index.js';
import type { Subject } from '../identity/index.js';
import type { Decision } from '../policy/index.js';
import { emptyReport, redact } from '../redaction/index.js';
import type { Logger } from '../telemetry/logger.js';
import { callHash } from './call-hash.js';
import { approvalAudit, ApprovalNotGrantedError, ApprovalUnavailableError } from './errors.js';
import { checkRelease, type Redecide, type Released } from './release.js';
import type { ApprovalRecord, ApprovalStore } from './types.js';

export interface ApprovalRequest {
  decisionId: string;
  decision: Decision;
  subject: Subject;
  /** The upstream server id and the upstream's own tool name: what actually runs. */
  serverId: string;
  tool: string;
  /** The raw arguments. The gate redacts its own copy per decision.redactArguments before anyone sees them. */
  arguments: Record<string, unknown>;
  bundleRevision?: string;
  /** Aborted when the client cancels (notifications/cancelled) or disconnects: the request is withdrawn. */
  signal?: AbortSignal;
  /** Set when the client gave a progress token: "awaiting approval" notifications go here. */
  onProgress?: (p: { progress: number; message: string }) => void;
  /** Evaluates the same policy input again when the approval releases the call (release.ts). */
  redecide: Redecide;
}

/**
 * "Awaiting approval" as notifications/progress on the request's own stream, when (and only when) the client gave a
 * progress token: MCP lets a server send progress only for a token the client chose.
 */
export function approvalProgress(
  relay: { notify(n: { jsonrpc: '2.0'; method: string; params?: Record<string, unknown> }): void },
  params: Record<string, unknown>,
): ApprovalRequest['onProgress'] {
  const token = (params._meta as Record<string, unknown> | undefined)?.progressToken;
  if (typeof token !== 'string' && typeof token !== 'number') return undefined;
  return (p) => relay.notify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, ...p } });
}

/**
 * Resolves with the approval that let the call run (for its audit record) and the decision it runs under (the one
 * re-evaluated at release); throws when the call may not run.
 */
export type AwaitApproval = (req: ApprovalRequest) => Promise<Released>;

/** The stage when no approval workflow is configured: such a call is refused at once and never runs unreviewed. */
export function createRefusingGate(): AwaitApproval {
  return async function refuseApproval(req) {
    throw new ApprovalRequiredError(req.decision.reasons, req.decisionId, {
      approvers: req.decision.approval?.approvers ?? [],
      hint: 'this gateway has no approval workflow configured (config: approvals); the call was not executed',
    });
  };
}

export interface ApprovalGateOptions {
  store: ApprovalStore;
  /** This process's id, recorded as the holder of the calls it keeps open. */
  replica: string;
  /** Keyed hash for binding an approval to its call (the audit HMAC). */
  keyedHash: (value: string) => string;
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  progressIntervalMs: number;
  /** auth.clockToleranceSeconds: leeway when the requester's token is checked again at release. */
  clockToleranceSeconds: number;
  /** Told of every new pending approval (the webhook). Must not throw or block. */
  announce?: (rec: ApprovalRecord) => void;
  /** The console link for an approval, when the public URL is known. */
  link?: (id: string) => string | undefined;
  log: Logger;
}

export interface ApprovalGate {
  awaitApproval: AwaitApproval;
  /** How many calls this process holds right now. */
  readonly holding: number;
  /** Withdraws every held call (shutdown): their clients get an answer instead of a cut connection. */
  drain(reason: string): Promise<void>;
}

type WakeReason = 'wake' | 'tick' | 'abort';

/** A latched wake-up: a change announced while the waiter was busy reading the store is not lost. */
class Wakeup {
  private pending = false;
  private resolve: ((r: WakeReason) => void) | null = null;

  wake(): void {
    this.pending = true;
    this.resolve?.('wake');
  }

  wait(ms: number, signals: AbortSignal[]): Promise<WakeReason> {
    if (signals.some((s) => s.aborted)) return Promise.resolve('abort');
    if (this.pending) {
      this.pending = false;
      return Promise.resolve('wake');
    }
    return new Promise<WakeReason>((resolve) => {
      const done = (r: WakeReason) => {
        clearTimeout(timer);
        for (const s of signals) s.removeEventListener('abort', onAbort);
        this.resolve = null;
        if (r === 'wake') this.pending = false;
        resolve(r);
      };
      const onAbort = () => done('abort');
      const timer = setTimeout(() => done('tick'), Math.max(0, ms));
      for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
      this.resolve = done;
    });
  }
}

export function createApprovalGate(opts: ApprovalGateOptions): ApprovalGate {
  const { store, log } = opts;
  if (!(opts.defaultTimeoutSeconds > 0)) throw new Error('approval gate: defaultTimeoutSeconds must be > 0');
  if (!(opts.maxTimeoutSeconds >= opts.defaultTimeoutSeconds)) throw new Error('approval gate: maxTimeoutSeconds must be >= defaultTimeoutSeconds');
  if (!(opts.progressIntervalMs >= 100)) throw new Error('approval gate: progressIntervalMs must be >= 100');

  const held = new Map<string, { wakeup: Wakeup; drain: AbortController }>();
  const wakeOne = (id: string) => held.get(id)?.wakeup.wake();
  store.onChange(wakeOne);
  store.onResync(() => {
    for (const h of held.values()) h.wakeup.wake();
  });

  function timeoutMs(d: Decision): number {
    const asked = d.approval?.timeoutSeconds ?? opts.defaultTimeoutSeconds;
    return Math.min(Math.max(1, asked), opts.maxTimeoutSeconds) * 1000;
  }

  async function withdraw(id: string, reason: string): Promise<ApprovalRecord | null> {
    try {
      const r = await store.close(id, 'withdrawn', { now: Date.now(), closedReason: reason, refuseIfLapsed: false });
      return r.record;
    } catch (err) {
      log.warn('approval: could not record a withdrawal', { approvalId: id, error: (err as Error).message });
      return null;
    }
  }

  async function awaitApproval(req: ApprovalRequest): Promise<Released> {
    const { decision, decisionId } = req;
    const approvers = decision.approval?.approvers ?? [];
    if (approvers.length === 0) {
      throw new ApprovalRequiredError(decision.reasons, decisionId, {
        approvers: [],
        hint: 'policy asked for approval but named no approver group; the call was not executed',
      });
    }
    const now = Date.now();
    const s = req.subject;
    const name = typeof s.claims.name === 'string' ? s.claims.name : undefined;
    const rec: ApprovalRecord = {
      id: randomUUID(),
      status: 'pending',
      createdAt: now,
      expiresAt: now + timeoutMs(decision),
      callHash: callHash({ server: req.serverId, tool: req.tool, arguments: req.arguments, principal: s.principal }, opts.keyedHash),
      decisionId,
      replica: opts.replica,
      requester: { iss: s.iss, sub: s.sub, client_id: s.client_id, name, principal: s.principal },
      server: req.serverId,
      tool: req.tool,
      // redact() works in place: reviewers get a redacted copy, the call keeps its own arguments.
      arguments: redact(structuredClone(req.arguments), decision.redactArguments, emptyReport()),
      reasons: decision.reasons,
      approvers: [...approvers],
      bundleRevision: req.bundleRevision,
    };
    const id = rec.id;
    const entry = { wakeup: new Wakeup(), drain: new AbortController() };
    // Registered before the record exists, so no decision can slip past unseen.
    held.set(id, entry);
    const signals = [entry.drain.signal, ...(req.signal ? [req.signal] : [])];
    const withdrawReason = () =>
      entry.drain.signal.aborted ? String(entry.drain.signal.reason ?? 'the gateway is shutting down') : 'the client cancelled the call or disconnected';
    try {
      try {
        await store.create(rec);
      } catch (err) {
        throw new ApprovalUnavailableError(decision.reasons, decisionId, err);
      }
      log.info('approval pending', { approvalId: id, decisionId, server: rec.server, tool: rec.tool, approvers, expiresAt: new Date(rec.expiresAt).toISOString() });
      opts.announce?.(rec);

      let progress = 0;
      const link = opts.link?.(id);
      const sendProgress = () => {
        const left = Math.max(0, Math.round((rec.expiresAt - Date.now()) / 1000));
        req.onProgress?.({
          progress: progress++,
          message: `awaiting approval ${id} by ${approvers.join(', ')}; ${left} s left${link ? `; ${link}` : ''}`,
        });
      };
      sendProgress();

      let lastGood = Date.now();
      for (;;) {
        if (signals.some((sg) => sg.aborted)) {
          const closed = await withdraw(id, withdrawReason());
          throw ApprovalNotGrantedError.from(closed?.status === 'withdrawn' ? closed : { ...rec, status: 'withdrawn', closedReason: withdrawReason() }, decision.reasons, decisionId);
        }
        let cur: ApprovalRecord | null;
        try {
          cur = await store.get(id);
          lastGood = Date.now();
        } catch (err) {
          // A store outage is waited out until the approval would have lapsed anyway; then the call is refused.
          log.warn('approval: store read failed; retrying', { approvalId: id, error: (err as Error).message });
          if (Date.now() > rec.expiresAt && Date.now() - lastGood > opts.progressIntervalMs) throw new ApprovalUnavailableError(decision.reasons, decisionId, err);
          await entry.wakeup.wait(Math.min(1000, opts.progressIntervalMs), signals);
          continue;
        }
        if (!cur) throw new ApprovalUnavailableError(decision.reasons, decisionId, new Error(`approval ${id} vanished from the store`));
        if (cur.status === 'approved') {
          const used = await store.consume(id, rec.callHash, Date.now());
          if (!used.ok) {
            log.error('approval: approved record could not be used', { approvalId: id, reason: used.reason });
            throw ApprovalNotGrantedError.from(used.record ?? cur, decision.reasons, decisionId);
          }
          log.info('approval granted', { approvalId: id, decisionId, reviewer: used.record.decision?.by.sub });
          // Consumed first, then looked at again: a refusal here spends the approval, so it cannot be retried into
          // running later under a policy or token that was checked earlier.
          try {
            return checkRelease(
              { subject: s, decision, decisionId, bundleRevision: req.bundleRevision, redecide: req.redecide, clockToleranceSeconds: opts.clockToleranceSeconds, now: Date.now() },
              approvalAudit(used.record, 'approved'),
            );
          } catch (err) {
            log.warn('approved call refused at release', { approvalId: id, decisionId, error: (err as Error).message });
            throw err;
          }
        }
        if (cur.status !== 'pending') throw ApprovalNotGrantedError.from(cur, decision.reasons, decisionId);
        const left = cur.expiresAt - Date.now();
        if (left <= 0) {
          await store.close(id, 'expired', { now: Date.now(), closedReason: 'no reviewer decided in time', refuseIfLapsed: false });
          continue; // re-read: a reviewer may have decided just before the deadline
        }
        const why = await entry.wakeup.wait(Math.min(left, opts.progressIntervalMs), signals);
        if (why === 'tick' && Date.now() < cur.expiresAt) sendProgress();
      }
    } finally {
      held.delete(id);
    }
  }

  return {
    awaitApproval,
    get holding() {
      return held.size;
    },
    async drain(reason) {
      for (const h of held.values()) h.drain.abort(reason);
      const deadline = Date.now() + 5000;
      while (held.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
