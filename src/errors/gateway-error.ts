/** The GatewayError tree: every failure the pipeline can stop with, each knowing its wire form. */
import * as codes from './codes.js';

/** Pipeline stage names, used in errors, audit records and logs. */
export type Stage =
  | 'transport'
  | 'identity'
  | 'catalog'
  | 'policy'
  | 'quota'
  | 'approval'
  | 'credentials'
  | 'validation'
  | 'upstream'
  | 'redaction'
  | 'audit';

export interface GatewayErrorOptions {
  /** Client-safe structured data (reasons, decisionId, field). Never secrets. */
  data?: Record<string, unknown>;
  /** The underlying cause: logged, never serialized to the client. */
  cause?: unknown;
  httpStatus?: number;
}

export class GatewayError extends Error {
  readonly code: number;
  readonly httpStatus: number;
  readonly stage: Stage;
  readonly data: Record<string, unknown> | undefined;
  override readonly cause: unknown;

  constructor(code: number, stage: Stage, publicMessage: string, opts: GatewayErrorOptions = {}) {
    super(publicMessage);
    this.name = new.target.name;
    this.code = code;
    this.stage = stage;
    this.httpStatus = opts.httpStatus ?? 200;
    this.data = opts.data;
    this.cause = opts.cause;
  }
}

export class ParseError extends GatewayError {
  constructor(message = 'Parse error: body is not valid JSON') {
    super(codes.PARSE_ERROR, 'transport', message, { httpStatus: 400 });
  }
}

export class InvalidRequestError extends GatewayError {
  constructor(message: string, httpStatus = 400) {
    super(codes.INVALID_REQUEST, 'transport', message, { httpStatus });
  }
}

export class SessionNotFoundError extends GatewayError {
  constructor() {
    super(codes.SESSION_NOT_FOUND, 'transport', 'Session not found', { httpStatus: 404 });
  }
}

export class MethodNotFoundError extends GatewayError {
  constructor(method: string) {
    super(codes.METHOD_NOT_FOUND, 'transport', `Method not found: ${method}`);
  }
}

/**
 * Unknown and invisible tools get this same error, word for word: a caller must not learn that a
 * tool it may not see exists (security checklist C21).
 */
export class UnknownToolError extends GatewayError {
  constructor(name: string) {
    super(codes.INVALID_PARAMS, 'catalog', `Unknown tool: ${name}`);
  }
}

export class InvalidParamsError extends GatewayError {
  constructor(message: string, data?: Record<string, unknown>) {
    super(codes.INVALID_PARAMS, 'validation', message, { data });
  }
}

export class PolicyDeniedError extends GatewayError {
  constructor(reasons: string[], decisionId: string) {
    const text = reasons.length > 0 ? reasons.join('; ') : 'denied by policy';
    super(codes.POLICY_DENIED, 'policy', `Denied by policy: ${text}`, { data: { reasons, decisionId } });
  }
}

export class ApprovalRequiredError extends GatewayError {
  constructor(reasons: string[], decisionId: string, extra: Record<string, unknown> = {}) {
    const text = reasons.length > 0 ? reasons.join('; ') : 'policy requires human approval';
    super(codes.APPROVAL_REQUIRED, 'approval', `Approval required: ${text}`, {
      data: { reasons, decisionId, ...extra },
    });
  }
}

/** No bundle, an evaluation error or an evaluation over budget: fail closed, with a readable reason. */
export class PolicyUnavailableError extends GatewayError {
  constructor(reason: string, decisionId: string, cause?: unknown) {
    super(codes.POLICY_UNAVAILABLE, 'policy', `Denied: policy unavailable (${reason})`, {
      data: { reasons: [reason], decisionId },
      cause,
    });
  }
}

export class CredentialUnavailableError extends GatewayError {
  constructor(serverId: string, cause?: unknown) {
    super(codes.CREDENTIAL_UNAVAILABLE, 'credentials', `Credential for upstream '${serverId}' is unavailable`, {
      data: { server: serverId },
      cause,
    });
  }
}

export class UpstreamUnavailableError extends GatewayError {
  constructor(serverId: string, detail: string, cause?: unknown) {
    super(codes.UPSTREAM_UNAVAILABLE, 'upstream', `Upstream '${serverId}' unavailable: ${detail}`, {
      data: { server: serverId },
      cause,
    });
  }
}

export class UpstreamTimeoutError extends GatewayError {
  constructor(serverId: string, timeoutMs: number) {
    super(codes.UPSTREAM_TIMEOUT, 'upstream', `Upstream '${serverId}' did not answer within ${timeoutMs} ms`, {
      data: { server: serverId, timeoutMs },
    });
  }
}

export class ShuttingDownError extends GatewayError {
  constructor() {
    super(codes.GATEWAY_SHUTTING_DOWN, 'transport', 'Gateway is shutting down', { httpStatus: 503 });
  }
}

/** Authentication failures are HTTP-only (401/403 with WWW-Authenticate), never a JSON-RPC error. */
export class AuthenticationError extends Error {
  constructor(
    readonly httpStatus: 401 | 403,
    readonly oauthError: 'invalid_token' | 'insufficient_scope' | 'invalid_request' | null,
    readonly description: string,
  ) {
    super(description);
    this.name = 'AuthenticationError';
  }
}

/** A JSON-RPC error the upstream itself returned: relayed with its own code and message. */
export class UpstreamRpcError extends GatewayError {
  constructor(serverId: string, error: { code: number; message: string; data?: unknown }) {
    super(error.code, 'upstream', error.message, {
      // Errors whose data the MCP schema defines (MissingRequiredClientCapability: requiredCapabilities) pass as
      // they are, so clients can read them; anything else is the upstream's own, labelled as such.
      data:
        error.data === undefined
          ? undefined
          : error.code === codes.MISSING_CLIENT_CAPABILITY && typeof error.data === 'object' && error.data !== null
            ? (error.data as Record<string, unknown>)
            : ({ upstream: error.data, server: serverId } as Record<string, unknown>),
      httpStatus: error.code === codes.MISSING_CLIENT_CAPABILITY ? 400 : undefined,
    });
  }
}
