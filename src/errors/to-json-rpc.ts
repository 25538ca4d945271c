/** The only place a thrown error becomes a JSON-RPC error object: unknown errors never leak internals. */
import { INTERNAL_ERROR } from './codes.js';
import { GatewayError } from './gateway-error.js';

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export function toJsonRpcError(err: unknown): JsonRpcErrorObject {
  if (err instanceof GatewayError) {
    return err.data === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, data: err.data };
  }
  // Anything else is a bug or an unexpected failure: generic text, the detail goes to the log only.
  return { code: INTERNAL_ERROR, message: 'Internal error' };
}

export function httpStatusOf(err: unknown): number {
  return err instanceof GatewayError ? err.httpStatus : 500;
}
