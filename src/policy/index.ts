/** Policy (stage 4): the WASM engine, bundle loading and watching, input building and decision parsing. */
export { PolicyEngine, ENTRYPOINT_DECISION, ENTRYPOINT_VISIBLE, providedBuiltins, type ActiveBundle, type EvalResult } from './engine.js';
export { BundleWatcher, type ComponentState } from './bundle-watcher.js';
export { parseDecision, DecisionShapeError, type Decision, type Outcome, type RedactionSpec, type MaskRule } from './decision.js';
export { parseBundle, BundleError } from './bundle.js';
export { createAuthorizer, type Authorizer, type RequestFacts, type VisibleResult, type DecideResult, type ListKind, type Target, type DecisionLogger, type DecisionRef } from './authorize.js';
export { loadVerificationKey, SignatureError, type VerificationConfig } from './bundle-signature.js';
export type { Verifier } from './bundle.js';
