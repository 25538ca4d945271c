/**
 * Which builtins a compiled policy asks its host for. `opa build -t wasm` compiles most builtins into the module; the
 * rest (http.send, time.now_ns, ...) are imported and named by the module's `builtins()` export. A builtin the host
 * does not implement compiles and loads without complaint and fails only when a rule reaches it, so `policy build`
 * and activation read this list up front and say so.
 */

/** Names of the host builtins a policy.wasm imports, sorted. Throws if the bytes are not an OPA WASM module. */
export async function requiredBuiltins(wasm: Uint8Array): Promise<string[]> {
  const module = await WebAssembly.compile(new Uint8Array(wasm));
  const memory = new WebAssembly.Memory({ initial: 5, maximum: 1024 });
  // Only builtins() and opa_json_dump run, and neither calls an import; stubs keep the instance self-contained.
  const env: WebAssembly.ModuleImports = { memory };
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === 'env' && imp.kind === 'function') {
      env[imp.name] = () => {
        throw new Error(`unexpected call to ${imp.name} while listing builtins`);
      };
    }
  }
  const instance = await WebAssembly.instantiate(module, { env });
  const exports = instance.exports as { builtins?: () => number; opa_json_dump?: (addr: number) => number };
  if (typeof exports.builtins !== 'function' || typeof exports.opa_json_dump !== 'function') {
    throw new Error('not an OPA WASM module (no builtins or opa_json_dump export)');
  }
  const at = exports.opa_json_dump(exports.builtins());
  const bytes = new Uint8Array(memory.buffer);
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  const map = JSON.parse(new TextDecoder().decode(bytes.subarray(at, end))) as Record<string, number>;
  return Object.keys(map).sort();
}

/** The required builtins the host cannot satisfy, given the set it provides. */
export function missingBuiltins(required: readonly string[], provided: ReadonlySet<string>): string[] {
  return required.filter((name) => !provided.has(name));
}
