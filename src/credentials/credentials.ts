/**
 * The credentials stage: which downstream credential a call carries. The decision may name a profile;
 * with no credential source configured for it the call fails closed rather than going out unauthenticated.
 */
import type { CatalogEntry } from '../catalog/index.js';
import { CredentialUnavailableError } from '../errors/index.js';
import type { Decision } from '../policy/index.js';

export interface Injection {
  /** Extra HTTP headers for an HTTP upstream. */
  headers?: Record<string, string>;
  /** What the audit may say about it: never the secret. */
  audit?: { profile: string; lease?: string };
}

export type IssueCredentials = (entry: CatalogEntry, decision: Decision) => Promise<Injection>;

const NONE: Injection = Object.freeze({});

export function createCredentialIssuer(): IssueCredentials {
  return async function issueCredentials(entry, decision) {
    if (decision.credential === undefined) return NONE;
    throw new CredentialUnavailableError(entry.server.id, new Error(`no credential source configured for profile '${decision.credential}'`));
  };
}
