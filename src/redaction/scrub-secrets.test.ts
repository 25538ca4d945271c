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
