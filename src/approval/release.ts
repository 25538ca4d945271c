/**
 * The second look at a held call when a reviewer's approval releases it. Minutes or hours may have passed since
 * policy asked for approval: the bundle may now forbid the call, and the requester's token may have lapsed. So the
 * call runs only if the token that made it is still inside its validity window and a fresh evaluation of the same
 * policy input against the bundle active now still lets it run; otherwise it is refused and never reaches the upstream.
 */
import { PolicyDeniedError, PolicyUnavailableError } from '../errors/index.js';
import type { Subject } from '../identity/index.js';
import type { Decision, DecideResult } from '../policy/index.js';
import { ApprovalNotGrantedError, type ApprovalAudit } from './errors.js';

type BundleRef = { revision: string; generation: number } | null;

/** One fresh evaluation of the held call's own policy input, with the decision id it is logged under. */
export interface ReleaseEvaluation {
  decisionId: string;
  bundle: BundleRef;
  result: DecideResult;
}

/** Evaluates the held call again, synchronously, against the bundle active at the moment it is called. */
export type Redecide = () => ReleaseEvaluation;

/** What an approved call runs under: the release decision (its redaction and credential), and its audit view. */
export interface Released {
  approval: ApprovalAudit;
  decision: Decision;
}

export interface ReleaseCheck {
  subject: Subject;
  /** The decision that held the call, and its id (the call's own decision_id). */
  decision: Decision;
  decisionId: string;
  bundleRevision?: string;
  redecide: Redecide;
  /** auth.clockToleranceSeconds: the same leeway the token was verified with. */
  clockToleranceSeconds: number;
  now: number;
}

/** A policy denial at release: -32010 (outcome deny), carrying the approval for the call's audit record. */
export class ReleaseDeniedError extends PolicyDeniedError {
  readonly approval: ApprovalAudit;

  constructor(reasons: string[], check: ReleaseCheck, ev: ReleaseEvaluation, approval: ApprovalAudit) {
    super(reasons, check.decisionId);
    const text = reasons.length > 0 ? reasons.join('; ') : 'denied by policy';
    this.message = `Denied by policy at release: ${text}. The call was approved (${approval.id}) under bundle revision ${check.bundleRevision ?? 'unknown'}, but the policy active now (revision ${ev.bundle?.revision ?? 'unknown'}) forbids it; the call was not executed`;
    // PolicyDeniedError fixes its data to {reasons, decisionId}; the release facts are added to that same object.
    Object.assign(this.data!, { approvalId: approval.id, releaseDecisionId: ev.decisionId });
    this.approval = approval;
  }
}

/** The policy could not be evaluated at release: fail closed (-32012), as for any call. */
export class ReleaseUnavailableError extends PolicyUnavailableError {
  readonly approval: ApprovalAudit;

  constructor(reason: string, check: ReleaseCheck, ev: ReleaseEvaluation, approval: ApprovalAudit) {
    super(`${reason}, when re-checking approved call ${approval.id} at release`, check.decisionId);
    Object.assign(this.data!, { approvalId: approval.id, releaseDecisionId: ev.decisionId });
    this.approval = approval;
  }
}

/** Seconds since the epoch, as ISO text, for messages. */
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * Runs the second look for an approval that was just consumed. Returns the decision the call now runs under, or
 * throws the refusal (each error carries the approval, with `release` filled in, for the call's audit record).
 */
export function checkRelease(check: ReleaseCheck, granted: ApprovalAudit): Released {
  const { subject, now } = check;
  const leeway = check.clockToleranceSeconds;
  const reasons = check.decision.reasons;

  // 1. The requester's token: the approval does not outlive the credential that asked for the call.
  const expired = subject.exp !== undefined && now >= (subject.exp + leeway) * 1000;
  const early = subject.nbf !== undefined && now < (subject.nbf - leeway) * 1000;
  if (expired || early) {
    const approval: ApprovalAudit = { ...granted, release: { outcome: 'token_invalid' } };
    const why = expired ? `expired at ${iso(subject.exp!)}` : `is not valid before ${iso(subject.nbf!)}`;
    throw new ApprovalNotGrantedError(
      `Approval ${granted.id} was granted, but the requester's token ${why}; the call was not executed (repeat it with a valid token)`,
      {
        reasons,
        decisionId: check.decisionId,
        approvalId: granted.id,
        status: 'expired',
        expired: 'token',
        ...(expired ? { tokenExpiredAt: iso(subject.exp!) } : { tokenNotBefore: iso(subject.nbf!) }),
      },
      approval,
    );
  }

  // 2. The policy active now, on the same input.
  const ev = check.redecide();
  const r = ev.result;
  const base = { decision_id: ev.decisionId, bundle: ev.bundle };
  if (!r.ok) throw new ReleaseUnavailableError(r.reason, check, ev, { ...granted, release: { ...base, outcome: 'error', reasons: [r.reason] } });
  const d = r.decision;
  const approval: ApprovalAudit = { ...granted, release: { ...base, outcome: d.outcome, reasons: d.reasons } };
  if (d.outcome === 'deny') throw new ReleaseDeniedError(d.reasons, check, ev, approval);
  if (d.outcome === 'needs_approval') {
    // The approval was given by a member of one of the groups the holding decision named; which one is not recorded.
    // So it still counts only if every one of those groups may still approve (fail closed when policy narrowed them).
    const current = new Set(d.approval?.approvers ?? []);
    const then = check.decision.approval?.approvers ?? [];
    const dropped = then.filter((g) => !current.has(g));
    if (current.size === 0 || dropped.length > 0) {
      throw new ApprovalNotGrantedError(
        `Approval ${granted.id} no longer suffices: the policy active now (revision ${ev.bundle?.revision ?? 'unknown'}) asks for approval by ${[...current].join(', ') || 'nobody'}, the approval was given under ${then.join(', ')}; the call was not executed`,
        { reasons: d.reasons, decisionId: check.decisionId, approvalId: granted.id, status: 'superseded', releaseDecisionId: ev.decisionId, approvers: [...current] },
        approval,
      );
    }
  }
  return { approval, decision: d };
}
