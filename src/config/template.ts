/**
 * Injection templates: `Bearer {{ .token }}` with the fields of a secret. Deliberately tiny: a field reference is
 * the only construct, so a template can neither loop nor call anything, and every field it needs is known at load.
 */

export interface Template {
  /** The secret fields the template reads, in order of appearance. */
  readonly fields: readonly string[];
  /** Throws MissingFieldError when the secret lacks a field; the error names the field, never a value. */
  render(values: Readonly<Record<string, string>>): string;
}

export class TemplateSyntaxError extends Error {
  override name = 'TemplateSyntaxError';
}

export class MissingFieldError extends Error {
  override name = 'MissingFieldError';
  constructor(readonly field: string) {
    super(`the secret has no field '${field}'`);
  }
}

const FIELD = /\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export function compileTemplate(text: string): Template {
  const parts: Array<string | { field: string }> = [];
  const fields: string[] = [];
  let last = 0;
  for (const m of text.matchAll(FIELD)) {
    parts.push(text.slice(last, m.index));
    parts.push({ field: m[1]! });
    fields.push(m[1]!);
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  // Anything brace-like left over is a typo ({{ token }}, {{.a.b}}), which would otherwise go out as literal text.
  for (const p of parts) {
    if (typeof p === 'string' && (p.includes('{{') || p.includes('}}'))) {
      throw new TemplateSyntaxError(`unsupported template syntax near '${p.slice(0, 40)}': use {{ .field }}`);
    }
  }
  return {
    fields,
    render(values) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') {
          out += p;
          continue;
        }
        const v = values[p.field];
        if (v === undefined) throw new MissingFieldError(p.field);
        out += v;
      }
      return out;
    },
  };
}
