/** Checks tool arguments against the tool's inputSchema with ajv before anything goes upstream (-32602 naming the field). */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { InvalidParamsError } from '../errors/index.js';

const ajv07 = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const ajv2020 = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });

export type ArgumentValidator = (args: Record<string, unknown>) => void;

/** The field path a person recognises: "/items/0/name" → "items[0].name". */
function fieldOf(e: ErrorObject): string {
  const parts = e.instancePath.split('/').slice(1);
  if (e.keyword === 'required') parts.push(String((e.params as { missingProperty: string }).missingProperty));
  if (e.keyword === 'additionalProperties') parts.push(String((e.params as { additionalProperty: string }).additionalProperty));
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'additionalProperties') return 'is not allowed';
  return e.message ?? 'is invalid';
}

/**
 * Compiles a tool's schema once. A schema ajv cannot compile makes every call to that tool fail:
 * forwarding unchecked arguments would defeat the point of the stage.
 */
export function compileValidator(toolName: string, schema: Record<string, unknown> | undefined): ArgumentValidator {
  let fn: ValidateFunction;
  try {
    const s = { ...(schema ?? { type: 'object' }) };
    const dialect = typeof s.$schema === 'string' ? s.$schema : '';
    const engine = dialect.includes('2020-12') || dialect.includes('2019-09') ? ajv2020 : ajv07;
    if (!dialect.includes('draft-07') && engine === ajv07) delete s.$schema;
    delete s.$id; // two upstreams may reuse an $id; ajv keys its cache on it
    fn = engine.compile(s);
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    return function invalidSchema() {
      throw new InvalidParamsError(`Tool ${toolName} has an input schema the gateway cannot check: ${reason}`);
    };
  }
  return function validateArguments(args) {
    if (fn(args)) return;
    const e = fn.errors?.[0];
    if (!e) throw new InvalidParamsError(`Invalid arguments for tool ${toolName}`);
    const field = fieldOf(e);
    throw new InvalidParamsError(`Invalid arguments for tool ${toolName}: ${field || 'arguments'} ${describe(e)}`, {
      field: field || null,
      reason: describe(e),
    });
  };
}
