import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from '../config/load-config.js';

const vault = { address: 'http://127.0.0.1:8200', auth: { method: 'approle', roleId: 'r', secretIdFile: 'sid' } };
const db = { source: 'dynamic', path: 'database/creds/ro', headers: { 'X-DB-User': '{{ .username }}' }, env: { PGUSER: '{{ .username }}' } };

function problems(doc: Record<string, unknown>): string[] {
  try {
    buildConfig({ policy: { bundle: 'b.tar.gz' }, ...doc }, 'test.yaml', '/etc/portcullis');
    return [];
  } catch (err) {
    return (err as { problems?: string[] }).problems ?? [String(err)];
  }
}

describe('credential configuration', () => {
  const rows: Array<{ note: string; doc: Record<string, unknown>; want: RegExp | null }> = [
    { note: 'a valid setup', doc: { vault, credentials: { db }, servers: [{ id: 'pg', url: 'http://127.0.0.1:1/mcp', credentials: { default: 'db' } }] }, want: null },
    { note: 'profiles need vault', doc: { credentials: { db }, servers: [{ id: 'pg', url: 'http://127.0.0.1:1/mcp' }] }, want: /^vault: is required/ },
    { note: 'an unknown profile on a server', doc: { vault, credentials: { db }, servers: [{ id: 'pg', url: 'http://127.0.0.1:1/mcp', credentials: { allowed: ['nope'] } }] }, want: /servers\[0\]\.credentials: no credential profile named 'nope'/ },
    { note: 'an HTTP server needs headers', doc: { vault, credentials: { db: { ...db, headers: undefined } }, servers: [{ id: 'pg', url: 'http://127.0.0.1:1/mcp', credentials: { default: 'db' } }] }, want: /has no headers/ },
    { note: 'a STDIO server needs env', doc: { vault, credentials: { db: { ...db, env: undefined } }, servers: [{ id: 'l', command: 'x', credentials: { default: 'db' } }] }, want: /has no env/ },
    { note: 'a STDIO server cannot choose per call', doc: { vault, credentials: { db, db2: db }, servers: [{ id: 'l', command: 'x', credentials: { default: 'db', allowed: ['db2'] } }] }, want: /uses its default profile only/ },
    { note: 'kv-v2 wants the API path', doc: { vault, credentials: { k: { source: 'kv-v2', path: 'secret/app', headers: { Authorization: 'Bearer {{ .token }}' } } }, servers: [] }, want: /a kv-v2 path is the API path <mount>\/data\/<name>, e.g. secret\/data\/app/ },
    { note: 'a bad template', doc: { vault, credentials: { db: { ...db, headers: { 'X-DB-User': '{{ username }}' } } }, servers: [] }, want: /credentials\.db\.headers\.X-DB-User: unsupported template syntax/ },
    { note: 'a template without a field', doc: { vault, credentials: { db: { ...db, headers: { 'X-Static': 'abc' } } }, servers: [] }, want: /uses no secret field/ },
    { note: 'a header the gateway sets itself', doc: { vault, credentials: { db: { ...db, headers: { 'Mcp-Session-Id': '{{ .username }}' } } }, servers: [] }, want: /set by the gateway itself/ },
    { note: 'the secret id never in the YAML', doc: { vault: { ...vault, auth: { method: 'approle', roleId: 'r', secretId: 'in-clear' } }, servers: [] }, want: /vault\.auth\.secretId: unknown field/ },
    { note: 'approle needs a secret id source', doc: { vault: { ...vault, auth: { method: 'approle', roleId: 'r' } }, servers: [] }, want: /vault\.auth/ },
  ];
  for (const r of rows) {
    it(r.note, () => {
      const p = problems(r.doc);
      if (r.want === null) assert.deepEqual(p, []);
      else assert.ok(p.some((x) => r.want!.test(x)), `expected a problem matching ${r.want}, got ${JSON.stringify(p)}`);
    });
  }

  it('resolves the AppRole secret id file against the config directory', () => {
    const cfg = buildConfig({ policy: { bundle: 'b.tar.gz' }, vault, servers: [] }, 'test.yaml', '/etc/portcullis');
    assert.equal(cfg.vault?.auth.secretIdFile, '/etc/portcullis/sid');
    assert.equal(cfg.vault?.leases.safetyMarginSeconds, 30);
  });
});
