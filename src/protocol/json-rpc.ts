/** JSON-RPC 2.0 message shapes as MCP uses them, and a cheap structural check for incoming messages. */

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  result?: unknown;
  error?: JsonRpcErrorBody;
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type MessageKind = 'request' | 'notification' | 'response' | 'invalid';

/**
 * Classifies a parsed body. Hand-written instead of the SDK's zod schemas because it runs on every message
 * of the hot path and only needs the envelope; params are checked by the stage that uses them.
 */
export function classify(msg: unknown): MessageKind {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return 'invalid';
  const m = msg as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return 'invalid';
  const hasId = 'id' in m;
  const idOk = typeof m.id === 'string' || (typeof m.id === 'number' && Number.isFinite(m.id));
  if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) return 'invalid';
  if (typeof m.method === 'string') {
    if (!hasId) return 'notification';
    return idOk ? 'request' : 'invalid';
  }
  if (hasId && ('result' in m || 'error' in m)) return idOk || m.id === null ? 'response' : 'invalid';
  return 'invalid';
}

export function resultMessage(id: JsonRpcId, result: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, result };
}

export function errorMessage(id: JsonRpcId | null, error: JsonRpcErrorBody): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error };
}
