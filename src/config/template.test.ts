import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, MissingFieldError, TemplateSyntaxError } from './template.js';

describe('injection templates', () => {
  const rows: Array<{ note: string; text: string; values: Record<string, string>; want: string; fields: string[] }> = [
    { note: 'one field with spaces', text: 'Bearer {{ .token }}', values: { token: 't1' }, want: 'Bearer t1', fields: ['token'] },
    { note: 'no spaces', text: '{{.username}}', values: { username: 'u' }, want: 'u', fields: ['username'] },
    { note: 'two fields and literals', text: '{{ .username }}:{{ .password }}@db', values: { username: 'u', password: 'p' }, want: 'u:p@db', fields: ['username', 'password'] },
    { note: 'a value is not re-expanded', text: '{{ .a }}', values: { a: '{{ .b }}', b: 'x' }, want: '{{ .b }}', fields: ['a'] },
  ];
  for (const r of rows) {
    it(r.note, () => {
      const t = compileTemplate(r.text);
      assert.deepEqual(t.fields, r.fields);
      assert.equal(t.render(r.values), r.want);
    });
  }

  for (const bad of ['{{ token }}', '{{ .a.b }}', 'Bearer {{ .token }', '{{ .token | b64 }}', '}}']) {
    it(`refuses ${JSON.stringify(bad)} at load`, () => assert.throws(() => compileTemplate(bad), TemplateSyntaxError));
  }

  it('a missing field names the field, not any value', () => {
    const t = compileTemplate('Bearer {{ .token }}');
    assert.throws(
      () => t.render({ password: 's3cret-value' }),
      (e: unknown) => e instanceof MissingFieldError && e.field === 'token' && !e.message.includes('s3cret'),
    );
  });
});
