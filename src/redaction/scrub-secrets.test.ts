import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyReport, scrubSecrets } from './index.js';

describe('scrubbing injected credentials from results', () => {
  const secret = 'A1a-s3cr3t/pa ss';
  it('removes the secret and its base64, base64url and URL-encoded forms, and counts them', () => {
    const doc = {
      content: [
        { type: 'text', text: `env PASSWORD=${secret}` },
        { type: 'text', text: `basic ${Buffer.from(secret).toString('base64')} url ${encodeURIComponent(secret)}` },
      ],
      structuredContent: { nested: [Buffer.from(secret).toString('base64url')] },
    };
    const r = emptyReport();
    const out = scrubSecrets(doc, [secret], r);
    assert.ok(!JSON.stringify(out).includes(secret));
    assert.ok(!JSON.stringify(out).includes(Buffer.from(secret).toString('base64')));
    assert.equal(r.masked.credential, 4);
  });
  it('leaves results alone when nothing was injected or the value is too short to be told from text', () => {
    const doc = { content: [{ type: 'text', text: 'abc' }] };
    assert.deepEqual(scrubSecrets(doc, undefined, emptyReport()), doc);
    assert.deepEqual(scrubSecrets(doc, ['abc'], emptyReport()), doc);
  });
});

describe('scrubbing credentials in keys and in hex', () => {
  const secret = 'Tok-9f3Q/zz';
  const hex = Buffer.from(secret, 'utf8').toString('hex');
  it('renames object keys that carry the secret (structuredContent, _meta), keeping member order and values', () => {
    const doc = {
      structuredContent: { [secret]: 'value', before: 1, [`x-${secret}`]: { [secret]: secret } },
      _meta: { [`auth:${secret}`]: true },
    };
    const r = emptyReport();
    const out = scrubSecrets(doc, [secret], r);
    const json = JSON.stringify(out);
    assert.ok(!json.includes(secret), json);
    assert.deepEqual(Object.keys(out.structuredContent), ['[redacted:credential]', 'before', 'x-[redacted:credential]']);
    assert.deepEqual(out._meta, { 'auth:[redacted:credential]': true });
    assert.equal(r.masked.credential, 5);
  });
  it('removes the lowercase and uppercase hex of the secret\'s UTF-8 bytes', () => {
    const doc = { content: [{ type: 'text', text: `lower ${hex} upper ${hex.toUpperCase()}` }] };
    const r = emptyReport();
    const out = scrubSecrets(doc, [secret], r);
    assert.equal(out.content[0]!.text, 'lower [redacted:credential] upper [redacted:credential]');
    assert.equal(r.masked.credential, 2);
  });
  it('hex of a non-ASCII secret is the hex of its UTF-8 bytes', () => {
    const s = 'pässwörd-ü';
    const h = Buffer.from(s, 'utf8').toString('hex');
    const out = scrubSecrets({ a: h.toUpperCase(), b: h }, [s], emptyReport());
    assert.deepEqual(out, { a: '[redacted:credential]', b: '[redacted:credential]' });
  });
  it('a "__proto__" key from JSON stays an own property and does not change the prototype', () => {
    const doc = JSON.parse(`{"__proto__": {"polluted": "${secret}"}, "k": 1}`) as Record<string, unknown>;
    const out = scrubSecrets(doc, [secret], emptyReport());
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":"[redacted:credential]"},"k":1}');
  });
});
