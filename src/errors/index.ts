/** Errors: the GatewayError tree, the code registry and the single JSON-RPC mapper. */
export * from './gateway-error.js';
export * as codes from './codes.js';
export { toJsonRpcError, httpStatusOf, type JsonRpcErrorObject } from './to-json-rpc.js';
