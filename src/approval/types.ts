/** The approval record and the store contract that the memory and Redis stores both honour. */

/**
 * pending → approved | denied | expired | withdrawn; nothing leaves a final status. An approved record is
 * additionally marked used (usedAt) once, by the replica that holds the call, right before the call runs.
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn';
export type FinalStatus = Exclude<ApprovalStatus, 'pending'>;

export interface PersonRef {
  iss?: string;
  sub: string;
  client_id?: string;
  name?: string;
}

export interface ReviewerDecision {
  by: PersonRef;
  comment: string;
  /** ms since the epoch */
  at: number;
}

export interface ApprovalRecord {
  /** Random (UUID v4): an id is never guessable from another. */
  id: string;
  status: ApprovalStatus;
  createdAt: number;
  expiresAt: number;
  /** Keyed hash of the canonical call (server, tool, raw arguments, requesting principal); see call-hash.ts. */
  callHash: string;
  /** decision_id of the tools/call audit record that asked. */
  decisionId: string;
  /** Which gateway process holds the client's request. */
  replica: string;
  requester: PersonRef & { principal: string };
  server: string;
  tool: string;
  /** The arguments as reviewers may see them: already redacted per the decision. Never the raw ones. */
  arguments: unknown;
  reasons: string[];
  /** Groups (or roles) whose members may decide. */
  approvers: string[];
  bundleRevision?: string;
  decision?: ReviewerDecision;
  /** Why an expired or withdrawn record was closed ("client cancelled", "timeout", …). */
  closedReason?: string;
  closedAt?: number;
  usedAt?: number;
}

export type TransitionFailure = 'unknown' | 'conflict' | 'expired' | 'mismatch';

export type TransitionResult =
  | { ok: true; record: ApprovalRecord }
  | { ok: false; reason: TransitionFailure; record: ApprovalRecord | null };

export interface CloseOptions {
  decision?: ReviewerDecision;
  closedReason?: string;
  now: number;
  /** Refuse (reason 'expired') when now is at or past expiresAt: reviewers cannot decide a lapsed request. */
  refuseIfLapsed: boolean;
}

export interface ListQuery {
  /** 'pending', or 'closed' for the most recently decided/expired/withdrawn first. */
  state: 'pending' | 'closed';
  limit: number;
}

/**
 * Every state change is one atomic step in the store, so two reviewers on two replicas cannot both decide, and an
 * approval is used at most once. Implementations announce each change with onChange on every replica.
 */
export interface ApprovalStore {
  readonly kind: 'memory' | 'redis';
  /** Resolves once the store answers (a Redis PING); rejects with the reason otherwise. */
  ready(): Promise<void>;
  create(rec: ApprovalRecord): Promise<void>;
  get(id: string): Promise<ApprovalRecord | null>;
  list(q: ListQuery): Promise<ApprovalRecord[]>;
  /** pending → a final status, atomically. */
  close(id: string, to: FinalStatus, opts: CloseOptions): Promise<TransitionResult>;
  /** Marks an approved, unused record used, if its call hash matches. Exactly one caller ever succeeds. */
  consume(id: string, callHash: string, now: number): Promise<TransitionResult>;
  /** Called with the id of every record that changed, on whichever replica changed it. */
  onChange(listener: (id: string) => void): () => void;
  /** Called after a lost connection is back: changes may have been missed, so waiters re-read. */
  onResync(listener: () => void): () => void;
  stop(): Promise<void>;
}
