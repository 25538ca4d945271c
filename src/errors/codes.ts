/** The gateway's JSON-RPC error codes: the single registry, mirrored in docs/errors.md. */

// Standard JSON-RPC 2.0 codes.
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

// The SDK answers an unknown session with -32001; we give the same answer so clients see one behaviour.
// This is its only meaning here: a client that does not answer a relayed request in time gets CLIENT_TIMEOUT.
export const SESSION_NOT_FOUND = -32001;
// MCP: resources/read of an unknown URI (and, here, of one the caller may not see).
export const RESOURCE_NOT_FOUND = -32002;

// Gateway codes: all in -32003..-32019, the range MCP 2026-07-28 leaves to implementations (-32020..-32099 is the
// specification's own). They avoid -32000 and -32001, which the SDK already uses.
export const POLICY_DENIED = -32010;
export const APPROVAL_REQUIRED = -32011;
export const POLICY_UNAVAILABLE = -32012;
export const CREDENTIAL_UNAVAILABLE = -32013;
export const UPSTREAM_UNAVAILABLE = -32014;
export const UPSTREAM_TIMEOUT = -32015;
export const GATEWAY_SHUTTING_DOWN = -32016;
export const QUOTA_EXHAUSTED = -32017;
export const QUOTA_UNAVAILABLE = -32018;
// The audit trail cannot take more (sink down, spool full) and audit.onFull is fail-closed.
export const AUDIT_UNAVAILABLE = -32019;
// A request the gateway relayed to the client (sampling, elicitation, roots/list) got no answer in time, or the
// client has no stream to receive it on.
export const CLIENT_TIMEOUT = -32003;
export const CLIENT_UNREACHABLE = -32004;
// A bound on MCP tasks (approvals.tasks) was reached: too many tasks in the session, or a result too large to keep.
export const TASK_LIMIT = -32005;

// MCP 2026-07-28 protocol errors (the -32020..-32099 range is the specification's own).
export const HEADER_MISMATCH = -32020;
export const MISSING_CLIENT_CAPABILITY = -32021;
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
