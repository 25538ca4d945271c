// Unit tests of the approval pieces that need no process: canonical hashing, the memory store's transitions,
// reviewer rules, webhook signatures, and the gate holding a call against the memory store.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import winston from 'winston';
import { subjectFromClaims } from '../identity/index.js';
import type { Decision } from '../policy/index.js';
import { createApprovalGate } from './approval-gate.js';
import { callHash, canonicalJson } from './call-hash.js';
import { ApprovalNotGrantedError } from './errors.js';
import { checkRelease, ReleaseDeniedError, type ReleaseCheck } from './release.js';
import { createMemoryStore } from './memory-store.js';
import { whyCannotDecide } from './reviewer-rules.js';
import type { ApprovalRecord } from './types.js';
import { signPayload } from './webhook.js';

const log = winston.createLogger({ silent: true });
const key = (v: string) => createHmac('sha256', 'k').update(v).digest('hex');
const person = (sub: string, extra: Record<string, unknown> = {}) => subjectFromClaims({ iss: 'https://idp', sub, ...extra }, 'roles', 'groups');

function record(over: Partial<ApprovalRecord> = {}): ApprovalRecord {
  const now = Date.now();
  return {
    id: 'a1',
    status: 'pending',
    createdAt: now,
    expiresAt: now + 60_000,
    callHash: 'h1',
    decisionId: 'd1',
    replica: 'r',
    requester: { iss: 'https://idp', sub: 'carol', principal: 'https://idp\u0000carol' },
    server: 'ops',
    tool: 'delete_thing',
    arguments: {},
    reasons: ['needs a human'],
    approvers: ['reviewers'],
    ...over,
  };
}

const decision = (timeoutSeconds?: number): Decision => ({
  outcome: 'needs_approval',
  reasons: ['destructive'],
  redactArguments: { drop: ['/secret'], mask: [] },
  redactResult: { drop: [], mask: [] },
  approval: { approvers: ['reviewers'], timeoutSeconds },
});

describe('call hash', () => {
  it('is the same for the same call in any key order, and changes with arguments, tool, server or identity', () => {
    const base = { server: 'ops', tool: 't', arguments: { a: 1, b: { y: [1, 2], x: 'z' } }, principal: 'p' };
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
    assert.equal(callHash(base, key), callHash({ ...base, arguments: { b: { x: 'z', y: [1, 2] }, a: 1 } }, key));
    for (const changed of [
      { ...base, arguments: { a: 2, b: base.arguments.b } },
      { ...base, arguments: { a: 1, b: { y: [2, 1], x: 'z' } } },
      { ...base, tool: 'u' },
      { ...base, server: 'other' },
      { ...base, principal: 'q' },
    ]) {
      assert.notEqual(callHash(base, key), callHash(changed, key));
    }
  });
});

describe('memory store', () => {
  it('decides once, refuses lapsed decisions, and lets an approval be used exactly once for its own hash', async () => {
    const s = createMemoryStore({ retainMs: 60_000 });
    await s.create(record());
    const ok = await s.close('a1', 'approved', { now: Date.now(), refuseIfLapsed: true });
    assert.equal(ok.ok, true);
    const twice = await s.close('a1', 'denied', { now: Date.now(), refuseIfLapsed: true });
    assert.deepEqual([twice.ok, !twice.ok && twice.reason], [false, 'conflict']);
    const wrong = await s.consume('a1', 'other-hash', Date.now());
    assert.deepEqual([wrong.ok, !wrong.ok && wrong.reason], [false, 'mismatch']);
    assert.equal((await s.consume('a1', 'h1', Date.now())).ok, true);
    const again = await s.consume('a1', 'h1', Date.now());
    assert.deepEqual([again.ok, !again.ok && again.reason], [false, 'conflict']);

    await s.create(record({ id: 'a2', expiresAt: Date.now() - 1 }));
    const late = await s.close('a2', 'approved', { now: Date.now(), refuseIfLapsed: true });
    assert.deepEqual([late.ok, !late.ok && late.reason], [false, 'expired']);
    assert.equal((await s.close('nope', 'approved', { now: Date.now(), refuseIfLapsed: true })).ok, false);
    await s.stop();
  });
});

describe('reviewer rules', () => {
  it('four eyes first, then group membership (groups or roles), then state', () => {
    const rec = record();
    const now = Date.now();
    assert.equal(whyCannotDecide(person('carol', { groups: ['reviewers'] }), rec, now)?.error, 'own_request');
    assert.equal(whyCannotDecide(person('dave', { groups: ['auditors'] }), rec, now)?.error, 'not_an_approver');
    assert.equal(whyCannotDecide(person('rita', { groups: ['reviewers'] }), rec, now), null);
    assert.equal(whyCannotDecide(person('rolf', { roles: ['reviewers'] }), rec, now), null);
    assert.equal(whyCannotDecide(person('rita', { groups: ['reviewers'] }), { ...rec, status: 'denied' }, now)?.error, 'already_decided');
    assert.equal(whyCannotDecide(person('rita', { groups: ['reviewers'] }), rec, rec.expiresAt)?.error, 'expired');
  });
});

describe('webhook signature', () => {
  it('is HMAC-SHA256 over "<t>.<body>"', () => {
    const sig = signPayload('s3cret', '{"a":1}', 1700000000);
    assert.equal(sig, `t=1700000000,v1=${createHmac('sha256', 's3cret').update('1700000000.{"a":1}').digest('hex')}`);
  });
});

describe('approval gate (memory store)', () => {
  const setup = () => {
    const store = createMemoryStore({ retainMs: 60_000 });
    const announced: ApprovalRecord[] = [];
    const gate = createApprovalGate({
      store,
      replica: 'test',
      keyedHash: key,
      defaultTimeoutSeconds: 5,
      maxTimeoutSeconds: 5,
      progressIntervalMs: 100,
      clockToleranceSeconds: 0,
      announce: (r) => announced.push(r),
      log,
    });
    return { store, gate, announced };
  };
  const request = (over: Record<string, unknown> = {}) => ({
    decisionId: 'd',
    decision: decision(),
    subject: person('carol'),
    serverId: 'ops',
    tool: 'delete_thing',
    arguments: { id: 'x', secret: 'hunter2' },
    redecide: () => ({ decisionId: 'd-release', bundle: { revision: 'r1', generation: 1 }, result: { ok: true as const, decision: decision(), micros: 0 } }),
    ...over,
  });
  const pendingOf = async (store: ReturnType<typeof createMemoryStore>) => {
    for (let i = 0; i < 100; i++) {
      const [p] = await store.list({ state: 'pending', limit: 10 });
      if (p) return p;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('no pending approval');
  };

  it('holds until approved, shows only redacted arguments, and the caller keeps its own arguments', async () => {
    const { store, gate, announced } = setup();
    const args = { id: 'x', secret: 'hunter2' };
    const progress: string[] = [];
    const held = gate.awaitApproval(request({ arguments: args, onProgress: (p: { message: string }) => progress.push(p.message) }));
    const p = await pendingOf(store);
    assert.deepEqual(p.arguments, { id: 'x' });
    assert.deepEqual(args, { id: 'x', secret: 'hunter2' }, 'the call’s own arguments are untouched');
    assert.equal(announced.length, 1);
    assert.equal(gate.holding, 1);
    await store.close(p.id, 'approved', { now: Date.now(), refuseIfLapsed: true, decision: { by: { sub: 'rita' }, comment: 'ok', at: Date.now() } });
    const grant = await held;
    assert.deepEqual(grant.approval, {
      id: p.id,
      status: 'approved',
      reviewer: { iss: undefined, sub: 'rita' },
      comment: 'ok',
      release: { decision_id: 'd-release', bundle: { revision: 'r1', generation: 1 }, outcome: 'needs_approval', reasons: ['destructive'] },
    });
    assert.ok((await store.get(p.id))!.usedAt);
    assert.match(progress[0]!, /^awaiting approval .* by reviewers; \d+ s left$/);
    assert.equal(gate.holding, 0);
  });

  it('a client abort withdraws; a policy timeout expires; both end in ApprovalNotGrantedError with the status', async () => {
    const { store, gate } = setup();
    const ac = new AbortController();
    const held = gate.awaitApproval(request({ signal: ac.signal }));
    const p = await pendingOf(store);
    ac.abort();
    await assert.rejects(held, (e: unknown) => e instanceof ApprovalNotGrantedError && e.data?.status === 'withdrawn');
    assert.equal((await store.get(p.id))!.status, 'withdrawn');

    const t0 = Date.now();
    await assert.rejects(gate.awaitApproval(request({ decision: decision(1) })), (e: unknown) => e instanceof ApprovalNotGrantedError && e.data?.status === 'expired');
    assert.ok(Date.now() - t0 >= 950);
  });

  it('a decision naming no approver is refused at once', async () => {
    const { gate } = setup();
    const d = { ...decision(), approval: { approvers: [] } };
    await assert.rejects(gate.awaitApproval(request({ decision: d })), (e: unknown) => /named no approver group/.test(String((e as { data?: { hint?: string } }).data?.hint)));
  });
});

describe('release: the second look at an approved call', () => {
  const granted = { id: 'a9', status: 'approved' as const };
  const now = Date.now();
  const check = (over: Partial<ReleaseCheck> = {}): ReleaseCheck => ({
    subject: person('carol', { exp: Math.floor(now / 1000) + 60 }),
    decision: decision(),
    decisionId: 'd0',
    bundleRevision: 'r1',
    redecide: () => ({ decisionId: 'd1', bundle: { revision: 'r2', generation: 2 }, result: { ok: true, decision: decision(), micros: 0 } }),
    clockToleranceSeconds: 0,
    now,
    ...over,
  });
  const deciding = (d: Decision) => () => ({ decisionId: 'd1', bundle: { revision: 'r2', generation: 2 }, result: { ok: true as const, decision: d, micros: 0 } });

  it('releases under the decision evaluated now, and records it', () => {
    const allow: Decision = { ...decision(), outcome: 'allow', reasons: ['fine now'], approval: undefined };
    const r = checkRelease(check({ redecide: deciding(allow) }), granted);
    assert.equal(r.decision, allow);
    assert.deepEqual(r.approval.release, { decision_id: 'd1', bundle: { revision: 'r2', generation: 2 }, outcome: 'allow', reasons: ['fine now'] });
  });

  it('refuses when the policy now denies (-32010), when it cannot be evaluated (-32012), or asks other approvers (-32011)', () => {
    const deny: Decision = { ...decision(), outcome: 'deny', reasons: ['frozen'], approval: undefined };
    assert.throws(
      () => checkRelease(check({ redecide: deciding(deny) }), granted),
      (e: unknown) => e instanceof ReleaseDeniedError && e.code === -32010 && /at release: frozen/.test(e.message) && e.approval.release?.outcome === 'deny' && e.data?.releaseDecisionId === 'd1',
    );
    const broken = () => ({ decisionId: 'd1', bundle: null, result: { ok: false as const, reason: 'evaluation failed', micros: 0 } });
    assert.throws(() => checkRelease(check({ redecide: broken }), granted), (e: unknown) => (e as { code?: number }).code === -32012);
    const narrowed: Decision = { ...decision(), approval: { approvers: ['security'] } };
    assert.throws(
      () => checkRelease(check({ redecide: deciding(narrowed) }), granted),
      (e: unknown) => e instanceof ApprovalNotGrantedError && e.data?.status === 'superseded',
    );
  });

  it('refuses, without evaluating, when the requester token expired (or is not yet valid); leeway is honoured', () => {
    let evaluated = 0;
    const redecide = () => {
      evaluated++;
      return { decisionId: 'd1', bundle: null, result: { ok: true as const, decision: decision(), micros: 0 } };
    };
    const past = person('carol', { exp: Math.floor(now / 1000) - 5 });
    assert.throws(
      () => checkRelease(check({ subject: past, redecide }), granted),
      (e: unknown) => e instanceof ApprovalNotGrantedError && e.data?.status === 'expired' && e.data?.expired === 'token' && e.approval.release?.outcome === 'token_invalid',
    );
    const future = person('carol', { exp: Math.floor(now / 1000) + 600, nbf: Math.floor(now / 1000) + 300 });
    assert.throws(() => checkRelease(check({ subject: future, redecide }), granted), /not valid before/);
    assert.equal(evaluated, 0);
    assert.doesNotThrow(() => checkRelease(check({ subject: past, redecide, clockToleranceSeconds: 30 }), granted));
  });
});
