/**
 * The reviewers' JSON API: GET /approvals, GET /approvals/<id>, POST /approvals/<id>/approve and /deny.
 * A reviewer is a bearer token checked exactly like an MCP client's, or a console session (then with a CSRF token).
 * Every decision, and every refused attempt to decide, is audited with the reviewer's identity.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AuditSink } from '../audit/index.js';
import { AuthenticationError } from '../errors/index.js';
import type { Authenticate, Subject } from '../identity/index.js';
import { auditSubject } from '../audit/index.js';
import type { Logger } from '../telemetry/logger.js';
import type { ConsoleAuth } from './console-auth.js';
import { approvalAudit } from './errors.js';
import { isApprover, mayView, whyCannotDecide, type Refusal } from './reviewer-rules.js';
import type { ApprovalRecord, ApprovalStatus, ApprovalStore } from './types.js';

export interface ApprovalsApiOptions {
  store: ApprovalStore;
  authenticate: Authenticate;
  /** Present when console sign-in is configured: its session cookie is then a second way to authenticate. */
  consoleAuth?: ConsoleAuth;
  audit: AuditSink;
  keyedHash: (value: string) => string;
  link: (id: string) => string | undefined;
  log: Logger;
}

const MAX_COMMENT = 2000;
const STATUSES: ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'withdrawn'];
const ID = /^[A-Za-z0-9-]{1,64}$/;

interface Reviewer {
  subject: Subject;
  via: 'bearer' | 'console';
}

class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).setHeader('Cache-Control', 'no-store');
  res.json(body);
}

/** What an API caller sees of an approval. The call hash stays inside the gateway (it is an internal binding). */
export function approvalView(rec: ApprovalRecord, viewer: Subject, link: string | undefined, now = Date.now()): Record<string, unknown> {
  const refusal = whyCannotDecide(viewer, rec, now);
  return {
    id: rec.id,
    status: rec.status,
    created_at: new Date(rec.createdAt).toISOString(),
    expires_at: new Date(rec.expiresAt).toISOString(),
    server: rec.server,
    tool: rec.tool,
    requester: { iss: rec.requester.iss, sub: rec.requester.sub, client_id: rec.requester.client_id, name: rec.requester.name },
    arguments: rec.arguments,
    reasons: rec.reasons,
    approvers: rec.approvers,
    decision: rec.decision
      ? { reviewer: { iss: rec.decision.by.iss, sub: rec.decision.by.sub, name: rec.decision.by.name }, comment: rec.decision.comment, decided_at: new Date(rec.decision.at).toISOString() }
      : null,
    closed_at: rec.closedAt ? new Date(rec.closedAt).toISOString() : null,
    closed_reason: rec.closedReason ?? null,
    used_at: rec.usedAt ? new Date(rec.usedAt).toISOString() : null,
    console_url: link ?? null,
    you: { can_decide: refusal === null, why_not: refusal?.error ?? null },
  };
}

export function createApprovalsApi(opts: ApprovalsApiOptions): express.Router {
  const { store, audit, log } = opts;
  const router = express.Router();
  const parseJson = express.json({ limit: '16kb', type: ['application/json'] });

  async function identify(req: Request, unsafe: boolean): Promise<Reviewer> {
    const authz = req.headers.authorization;
    if (authz !== undefined || req.query.access_token !== undefined) {
      try {
        return { subject: await opts.authenticate(authz, req.query.access_token !== undefined), via: 'bearer' };
      } catch (err) {
        if (err instanceof AuthenticationError) throw new ApiError(err.httpStatus, err.oauthError ?? 'invalid_token', err.description, { bearer: true });
        throw err;
      }
    }
    const session = opts.consoleAuth ? await opts.consoleAuth.session(req) : null;
    if (!session) {
      throw new ApiError(401, 'unauthenticated', 'send a bearer token, or sign in to the console', { bearer: true });
    }
    // A cookie rides along on cross-site requests; a state change must also prove it came from the console page.
    if (unsafe && !opts.consoleAuth!.csrfOk(req, session)) throw new ApiError(403, 'csrf', 'missing or wrong X-CSRF-Token header');
    return { subject: session.subject, via: 'console' };
  }

  function fail(res: Response, err: unknown): void {
    if (err instanceof ApiError) {
      if (err.extra.bearer) {
        const desc = err.code === 'unauthenticated' ? '' : `, error="${err.code}", error_description="${err.message.replace(/["\\]/g, '')}"`;
        res.setHeader('WWW-Authenticate', `Bearer realm="portcullis-approvals"${desc}`);
      }
      const { bearer: _bearer, ...extra } = err.extra;
      return send(res, err.httpStatus, { error: err.code, message: err.message, ...extra });
    }
    log.error('approvals api failed', { error: (err as Error)?.stack ?? String(err) });
    send(res, 503, { error: 'unavailable', message: 'the approval store is unavailable; try again' });
  }

  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, _next: NextFunction): void => {
      fn(req, res).catch((err: unknown) => fail(res, err));
    };

  function auditReview(req: Request, reviewer: Subject, rec: ApprovalRecord, action: 'approve' | 'deny', comment: string, refusal: Refusal | null): void {
    audit.record({
      decision_id: randomUUID(),
      action: `approval/${action}`,
      outcome: refusal ? 'deny' : action === 'approve' ? 'allow' : 'deny',
      reasons: refusal ? [`${refusal.error}: ${refusal.message}`] : comment ? [comment] : [],
      subject: auditSubject(reviewer),
      endpoint: req.baseUrl + req.path,
      server: rec.server,
      tool: rec.tool,
      stage: 'approval',
      error_code: refusal?.httpStatus,
      latency_ms: { total: 0 },
      remote: req.socket.remoteAddress,
      approval: {
        ...approvalAudit(rec),
        ...(refusal ? {} : { reviewer: { iss: reviewer.iss, sub: reviewer.sub }, comment }),
        requester: { iss: rec.requester.iss, sub: rec.requester.sub, client_id: rec.requester.client_id },
        call_hash: rec.callHash,
      },
    });
  }

  router.get(
    '/approvals',
    wrap(async (req, res) => {
      const { subject } = await identify(req, false);
      const q = req.query;
      const status = typeof q.status === 'string' ? q.status : 'pending';
      if (status !== 'closed' && status !== 'all' && !STATUSES.includes(status as ApprovalStatus)) {
        throw new ApiError(400, 'bad_request', `status must be one of ${[...STATUSES, 'closed', 'all'].join(', ')}`);
      }
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ApiError(400, 'bad_request', 'limit must be an integer from 1 to 500');
      const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
      const server = str(q.server);
      const tool = str(q.tool);
      const requester = str(q.requester);
      const group = str(q.group);
      const recs = [
        ...(status === 'pending' || status === 'all' ? await store.list({ state: 'pending', limit: 500 }) : []),
        ...(status !== 'pending' ? await store.list({ state: 'closed', limit: 500 }) : []),
      ];
      const now = Date.now();
      const items = recs
        .filter((r) => mayView(subject, r))
        .filter((r) => (status === 'all' ? true : status === 'closed' ? r.status !== 'pending' : r.status === status))
        .filter((r) => (!server || r.server === server) && (!tool || r.tool === tool) && (!requester || r.requester.sub === requester))
        .filter((r) => !group || r.approvers.includes(group))
        .slice(0, limit)
        .map((r) => approvalView(r, subject, opts.link(r.id), now));
      send(res, 200, { approvals: items, reviewer: { sub: subject.sub, groups: subject.groups, roles: subject.roles } });
    }),
  );

  router.get(
    '/approvals/:id',
    wrap(async (req, res) => {
      const { subject } = await identify(req, false);
      const id = String(req.params.id);
      const rec = ID.test(id) ? await store.get(id) : null;
      if (!rec) throw new ApiError(404, 'unknown_approval', `no approval ${id.slice(0, 64)}`);
      if (!mayView(subject, rec)) throw new ApiError(403, 'not_an_approver', `only members of ${rec.approvers.join(', ')} (or the requester) may see this approval`);
      send(res, 200, approvalView(rec, subject, opts.link(rec.id)));
    }),
  );

  for (const action of ['approve', 'deny'] as const) {
    router.post(
      `/approvals/:id/${action}`,
      parseJson,
      wrap(async (req, res) => {
        const { subject } = await identify(req, true);
        const id = String(req.params.id);
        const body = (req.body ?? {}) as { comment?: unknown };
        if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'bad_request', 'body must be a JSON object');
        if (body.comment !== undefined && typeof body.comment !== 'string') throw new ApiError(400, 'bad_request', 'comment must be a string');
        const comment = (body.comment ?? '').trim();
        if (comment.length > MAX_COMMENT) throw new ApiError(400, 'bad_request', `comment is longer than ${MAX_COMMENT} characters`);
        // The comment is what the agent is told on a denial, so a denial must have one.
        if (action === 'deny' && comment === '') throw new ApiError(400, 'bad_request', 'a denial needs a comment: it is the reason the caller gets');

        const rec = ID.test(id) ? await store.get(id) : null;
        if (!rec) throw new ApiError(404, 'unknown_approval', `no approval ${id.slice(0, 64)}`);
        const now = Date.now();
        const refusal = whyCannotDecide(subject, rec, now);
        if (refusal) {
          auditReview(req, subject, rec, action, comment, refusal);
          throw new ApiError(refusal.httpStatus, refusal.error, refusal.message, isApprover(subject, rec) ? { status: rec.status } : {});
        }
        const name = typeof subject.claims.name === 'string' ? subject.claims.name : undefined;
        const r = await store.close(id, action === 'approve' ? 'approved' : 'denied', {
          now,
          refuseIfLapsed: true,
          decision: { by: { iss: subject.iss, sub: subject.sub, client_id: subject.client_id, name }, comment, at: now },
        });
        if (!r.ok) {
          // Lost a race with another reviewer, or with the deadline.
          const lost: Refusal =
            r.reason === 'expired'
              ? { httpStatus: 409, error: 'expired', message: 'this approval has expired' }
              : r.reason === 'unknown'
                ? { httpStatus: 409, error: 'already_decided', message: 'this approval no longer exists' }
                : { httpStatus: 409, error: 'already_decided', message: `this approval is already ${r.record?.status ?? 'decided'}` };
          auditReview(req, subject, r.record ?? rec, action, comment, lost);
          throw new ApiError(lost.httpStatus, lost.error, lost.message, { status: r.record?.status ?? null });
        }
        auditReview(req, subject, r.record, action, comment, null);
        log.info(`approval ${action === 'approve' ? 'approved' : 'denied'}`, { approvalId: id, reviewer: subject.sub });
        send(res, 200, approvalView(r.record, subject, opts.link(id)));
      }),
    );
  }

  // Anything else under /approvals: JSON, not the MCP-shaped error of the main app.
  router.all(/^\/approvals(\/.*)?$/, (_req, res) => send(res, 404, { error: 'not_found', message: 'no such approvals route' }));
  // Body parse failures of the routes above.
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith('/approvals')) return next(err);
    const e = err as { type?: string };
    if (e.type === 'entity.parse.failed') return send(res, 400, { error: 'bad_request', message: 'body is not valid JSON' });
    if (e.type === 'entity.too.large') return send(res, 413, { error: 'too_large', message: 'body too large' });
    next(err);
  });
  return router;
}
