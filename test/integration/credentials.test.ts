// Short-lived downstream credentials from Vault, end to end with nothing mocked: a real OpenBao dev server (database
// secrets engine, KV v2, AppRole), a real PostgreSQL, the real gateway process, and the example postgres upstream
// that gets its database login only from the headers the gateway injects. Leases last 3 s (max 6 s) and the
// gateway's own Vault token 10 s (max 20 s), so renewal, replacement and re-login all happen while the suite runs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { auditLines } from '../helpers/audit.js';
import { buildBundle, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { startPostgres, startPostgresUpstream, type TestPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';
import { startVault, type TestVault } from '../helpers/vault.js';

// analyst → db-ro and on-call → db-rw on the pg upstream; every other upstream gets its server default (or nothing).
// Both roles may call both tools: whether a write happens is up to PostgreSQL's grants to the leased role.
const POLICY = `package portcullis

known_roles := {"analyst", "oncall"}

visible contains tool.key if {
	some tool in input.tools
	some r in input.subject.roles
	r in known_roles
}

default decision := {"outcome": "deny", "reasons": ["no rule allowed this call"]}

decision := {"outcome": "allow", "reasons": ["on-call: read-write database role"], "credential": "db-rw"} if {
	input.server.id == "pg"
	"oncall" in input.subject.roles
}

decision := {"outcome": "allow", "reasons": ["analyst: read-only database role"], "credential": "db-ro"} if {
	input.server.id == "pg"
	"analyst" in input.subject.roles
	not "oncall" in input.subject.roles
}

decision := {"outcome": "allow", "reasons": ["server default credential"]} if {
	input.server.id != "pg"
	some r in input.subject.roles
	r in known_roles
}
`;

const DB_HEADERS = { 'X-DB-User': '{{ .username }}', 'X-DB-Password': '{{ .password }}' };

interface Outcome {
  ok: boolean;
  text: string;
  isError: boolean;
  structured?: any;
  error?: McpError;
}

describe('credentials from Vault (real OpenBao, real PostgreSQL)', () => {
  const scope = new Scope();
  let dir: string;
  let db: TestPostgres;
  let vault: TestVault;
  let gw: RunningGateway;
  let analyst: Client;
  let oncall: Client;
  let auditFile: string;
  let vaultAudit: string;
  let notesRecord: string;
  let stdioRecord: string;
  let oncallRole = '';
  const clientTokens: string[] = [];
  /** Everything the clients received, for the final scan. */
  const responses: string[] = [];

  async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Outcome> {
    try {
      const r = await client.callTool({ name, arguments: args });
      responses.push(JSON.stringify(r));
      const content = (r.content as Array<{ type: string; text?: string }>) ?? [];
      return { ok: true, isError: r.isError === true, text: content.map((c) => c.text ?? '').join('\n'), structured: r.structuredContent };
    } catch (err) {
      if (!(err instanceof McpError)) throw err;
      responses.push(JSON.stringify({ code: err.code, message: err.message, data: err.data }));
      return { ok: false, isError: true, text: err.message, error: err };
    }
  }
  const whoami = async (client: Client): Promise<string> => {
    const r = await call(client, 'pg__query', { sql: 'SELECT current_user AS u FROM inventory LIMIT 1' });
    assert.ok(r.ok && !r.isError, `query failed: ${r.text}`);
    return r.structured.rows[0].u as string;
  };
  const pgRoles = async (names: string[]) =>
    (await db.sql<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [names])).map((r) => r.rolname);
  const gatewayLog = () => gw.process.stderr();
  /** The gateway's log lines that have every given field value. */
  const logged = (fields: Record<string, unknown>) =>
    gatewayLog()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? v.test(String(e[k])) : e[k] === v)));

  before(async () => {
    const t = tempDir('portcullis-it-cred-');
    dir = t.dir;
    scope.defer(null, t.cleanup);
    auditFile = join(dir, 'audit.jsonl');
    vaultAudit = join(dir, 'vault-audit.jsonl');
    notesRecord = join(dir, 'notes-record.jsonl');
    stdioRecord = join(dir, 'stdio-record.jsonl');

    db = scope.defer(await startPostgres(), (p) => p.stop());
    vault = scope.defer(
      await startVault(db, { dbDefaultTtl: '3s', dbMaxTtl: '6s', tokenTtl: '10s', tokenMaxTtl: '20s', auditFile: vaultAudit }),
      (v) => v.destroy(),
    );
    const kv = await vault.api('POST', 'secret/data/portcullis/notes-api', { data: { token: 'kv-token-version-1-Zq81' } });
    assert.equal(kv.status, 200);

    const pgUp = scope.defer(await startPostgresUpstream(db), (u) => u.stop());
    const notes = scope.defer(await startHttpUpstream({ record: notesRecord }), (u) => u.stop());
    const web = scope.defer(await startHttpUpstream(), (u) => u.stop());
    const issuer = await createIssuer(dir);
    const bundle = buildBundle(writePolicyDir(join(dir, 'policy'), { 'policy.rego': POLICY }), join(dir, 'policy.tar.gz'), 'cred-test');

    gw = await startGateway(dir, {
      auth: issuer.authConfig(),
      policy: { bundle },
      audit: { file: auditFile },
      shutdown: { graceSeconds: 5 },
      vault: {
        address: vault.addr,
        requestTimeoutMs: 2000,
        auth: { method: 'approle', roleIdFile: vault.roleIdFile, secretIdFile: vault.secretIdFile },
        // Short, so that the on-call lease, unused while the analyst works, is revoked as idle during the suite.
        leases: { idleSeconds: 8 },
      },
      credentials: {
        'db-ro': { source: 'dynamic', path: 'database/creds/analyst-ro', headers: DB_HEADERS },
        'db-rw': { source: 'dynamic', path: 'database/creds/oncall-rw', headers: DB_HEADERS },
        'db-env': { source: 'dynamic', path: 'database/creds/analyst-ro', env: { PGUSER: '{{ .username }}', PGPASSWORD: '{{ .password }}' } },
        'notes-key': { source: 'kv-v2', path: 'secret/data/portcullis/notes-api', cacheSeconds: 3, headers: { Authorization: 'Bearer {{ .token }}' } },
      },
      servers: [
        httpServer('pg', pgUp.url, {}, { credentials: { allowed: ['db-ro', 'db-rw'] } }),
        httpServer('notes', notes.url, {}, { credentials: { default: 'notes-key' } }),
        httpServer('web', web.url),
        { ...stdioServer('local', { record: stdioRecord }), credentials: { default: 'db-env' } },
      ],
    });
    scope.defer(gw, (g) => g.stop());
    const at = await issuer.mint({ sub: 'ann', roles: ['analyst'] });
    const oc = await issuer.mint({ sub: 'oscar', roles: ['oncall'] });
    clientTokens.push(at, oc);
    analyst = scope.defer(await connectClient(gw.url, at, 'analyst'), (c) => c.close().catch(() => undefined));
    oncall = scope.defer(await connectClient(gw.url, oc, 'oncall'), (c) => c.close().catch(() => undefined));
  });
  after(async () => {
    // For debugging a failure: CRED_TEST_LOG=<file> keeps the gateway's log.
    if (process.env.CRED_TEST_LOG && gw) {
      writeFileSync(process.env.CRED_TEST_LOG, gw.process.stderr());
      if (existsSync(auditFile)) writeFileSync(`${process.env.CRED_TEST_LOG}.audit`, readFileSync(auditFile));
    }
    await scope.close();
  });

  it("analyst: query runs as a leased read-only role; execute is refused by PostgreSQL's grants, not by policy", async () => {
    const user = await whoami(analyst);
    assert.match(user, /^v-approle-analyst/, 'current_user is a role Vault leased for analyst-ro');
    const leases = await vault.leases('database/creds/analyst-ro/');
    assert.ok(leases.length >= 1, 'Vault holds the lease');

    const write = await call(analyst, 'pg__execute', { sql: "INSERT INTO inventory (item, qty) VALUES ('analyst-was-here', 1)" });
    assert.ok(write.ok, 'the policy allowed the call (no JSON-RPC error)');
    assert.equal(write.isError, true);
    assert.match(write.text, /permission denied for table inventory/);
    const n = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM inventory WHERE item = 'analyst-was-here'");
    assert.equal(n[0]!.n, 0);
    // Audit records are written off the request path (batched): wait for this one to land.
    const rec = await waitFor(() => {
      const found = auditLines(auditFile)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((r) => r.tool === 'execute' && r.server === 'pg');
      return found.length > 0 ? found : undefined;
    }, 'the audit record of execute');
    assert.equal(rec.at(-1)?.outcome, 'allow', 'the audit shows the policy allowed it');
  });

  it('on-call: gets the read-write role, and its write lands', async () => {
    const user = await whoami(oncall);
    assert.match(user, /^v-approle-oncall/);
    oncallRole = user;
    const write = await call(oncall, 'pg__execute', { sql: "INSERT INTO inventory (item, qty) VALUES ('oncall-fix', 7)" });
    assert.ok(write.ok && !write.isError, write.text);
    assert.match(write.text, /^INSERT 1/);
    const n = await db.sql<{ n: number }>("SELECT count(*)::int AS n FROM inventory WHERE item = 'oncall-fix'");
    assert.equal(n[0]!.n, 1);
  });

  it('calls keep working across several lease expiries; replaced and idle leases are revoked, their roles gone from pg_roles', async (t) => {
    const users = new Set<string>();
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 14_000) {
      users.add(await whoami(analyst));
      calls++;
      await delay(250);
    }
    // 3 s leases renewed up to their 6 s max, then replaced: 14 s of calls see at least three roles.
    assert.ok(users.size >= 3, `expected >= 3 leased roles over 14 s, saw ${users.size} in ${calls} calls`);
    assert.ok(logged({ message: 'lease renewed', profile: 'db-ro' }).length >= 2, 'leases were renewed');
    assert.ok(logged({ message: 'lease obtained', profile: 'db-ro', replaces: /^database\/creds\/analyst-ro\// }).length >= 2, 'leases were replaced');
    const current = await whoami(analyst);
    const old = [...users].filter((u) => u !== current);
    // A replaced lease is revoked a margin (1 s for a 3 s lease) after its replacement; allow for that.
    await waitFor(async () => (await pgRoles(old)).length === 0, `old roles ${old.join(', ')} to be dropped`, 4000, 200);
    // Nobody used the on-call lease for 14 s (> idleSeconds): revoked, role dropped.
    assert.ok(logged({ message: 'lease idle; revoking', profile: 'db-rw' }).length >= 1, 'the idle on-call lease was revoked');
    assert.deepEqual(await pgRoles([oncallRole]), []);
    assert.deepEqual(await vault.leases('database/creds/oncall-rw/'), []);
    const live = await vault.leases('database/creds/analyst-ro/');
    t.diagnostic(`${calls} calls in 14 s, all answered, as ${users.size} successive leased roles; ${old.length} old roles dropped; ${live.length} analyst leases live in Vault`);
    assert.ok(live.length <= 3, `Vault holds only the live analyst leases (pg, local, at most one retiring), found ${live.length}`);
  });

  it('KV v2: a new version written in Vault is used by the next call after the cache TTL', async () => {
    const bearerOfLastCall = () => {
      const lines = readFileSync(notesRecord, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const lastCall = lines.filter((l) => l.body?.method === 'tools/call').at(-1);
      return lastCall.headers.authorization as string;
    };
    const v1 = (await vault.api('GET', 'secret/data/portcullis/notes-api')).json.data.metadata.version as number;
    const r1 = await call(analyst, 'notes__echo', { text: 'one' });
    assert.ok(r1.ok && !r1.isError);
    assert.equal(bearerOfLastCall(), 'Bearer kv-token-version-1-Zq81');
    const readAt = Date.now();
    const w = await vault.api('POST', 'secret/data/portcullis/notes-api', { data: { token: 'kv-token-version-2-Pw47' } });
    assert.equal(w.json.data.version, v1 + 1);
    await call(analyst, 'notes__echo', { text: 'two' });
    if (Date.now() - readAt < 2500) assert.equal(bearerOfLastCall(), 'Bearer kv-token-version-1-Zq81', 'within the cache TTL the cached version serves');
    await delay(Math.max(0, readAt + 3200 - Date.now()));
    await call(analyst, 'notes__echo', { text: 'three' });
    assert.equal(bearerOfLastCall(), 'Bearer kv-token-version-2-Pw47', 'after the cache TTL the new version is used, no restart');
    assert.equal(logged({ message: 'secret read', profile: 'notes-key', previousVersion: v1, version: v1 + 1 }).length, 1);
  });

  it('STDIO: the credential is in the environment at spawn; a replaced lease brings a fresh process', async () => {
    const spawns = () =>
      existsSync(stdioRecord)
        ? readFileSync(stdioRecord, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.env)
        : [];
    const r = await call(analyst, 'local__echo', { text: 'hi' });
    assert.ok(r.ok && !r.isError, r.text);
    const seen = spawns().length;
    const first = spawns().at(-1);
    assert.match(first.env.PGUSER, /^v-approle-analyst/);
    assert.ok(first.env.PGPASSWORD.length >= 16, 'the leased password is in the process environment');
    // The 3 s lease reaches its 6 s max and is replaced; the process started with it is replaced too.
    await waitFor(() => spawns().slice(seen).some((s) => s.env.PGUSER !== first.env.PGUSER), 'a process with a new leased role', 9000, 200);
    const r2 = await call(analyst, 'local__echo', { text: 'still here' });
    assert.ok(r2.ok && !r2.isError, r2.text);
    await waitFor(async () => (await pgRoles([first.env.PGUSER])).length === 0, 'the first process role to be revoked', 4000, 200);
  });

  it('Vault down: -32013 naming the upstream, others unaffected; Vault back: service resumes without restart', async (t) => {
    await whoami(analyst);
    const stoppedAt = Date.now();
    await vault.stop();
    t.diagnostic(`OpenBao took ${Date.now() - stoppedAt} ms to stop`);
    // The cached lease stays usable until its margin; after that the call must fail, not run on an expired login.
    const failed = await waitFor(
      async () => {
        const r = await call(analyst, 'pg__query', { sql: 'SELECT 1 AS one' });
        return r.ok ? null : r;
      },
      'a pg call to fail while Vault is down',
      8000,
      250,
    );
    t.diagnostic(`first -32013 ${Date.now() - stoppedAt} ms after the stop began (a cached lease serves until its margin)`);
    assert.equal(failed.error!.code, -32013);
    assert.match(failed.error!.message, /Credential for upstream 'pg' is unavailable/);
    assert.deepEqual(failed.error!.data, { server: 'pg' });
    assert.doesNotMatch(JSON.stringify(failed.error!.data) + failed.error!.message, /at \w+ \(|node_modules|\.ts:\d|ECONNREFUSED|hvs\.|s\.[A-Za-z0-9]{20}/);
    const other = await call(analyst, 'web__echo', { text: 'unaffected' });
    assert.ok(other.ok && !other.isError);
    assert.equal(other.text, 'unaffected');
    assert.ok(logged({ message: 'request failed', stage: 'credentials', error: /^vault unreachable/ }).length >= 1, 'the log says why');

    await vault.start();
    const restartedAt = Date.now();
    const back = await waitFor(
      async () => {
        const r = await call(analyst, 'pg__query', { sql: 'SELECT current_user AS u' });
        return r.ok && !r.isError ? r : null;
      },
      'pg calls to work again once Vault is back',
      10_000,
      250,
    );
    t.diagnostic(`pg calls work again ${Date.now() - restartedAt} ms after Vault was back`);
    assert.match(back.structured.rows[0].u, /^v-approle-analyst/);
    assert.ok(logged({ message: /^vault refused the token|^vault login again/ }).length >= 1, 'the gateway logged in again');
  });

  it('SIGTERM revokes every lease: none left in Vault, the leased roles gone from PostgreSQL', async (t) => {
    const live = [await whoami(analyst), await whoami(oncall)];
    assert.equal((await pgRoles(live)).length, 2);
    const before = [...(await vault.leases('database/creds/analyst-ro/')), ...(await vault.leases('database/creds/oncall-rw/'))];
    assert.ok(before.length >= 2);
    process.kill(gw.process.pid, 'SIGTERM');
    const exit = await Promise.race([gw.process.exited, delay(10_000).then(() => 'timeout' as const)]);
    assert.deepEqual(exit, { code: 0, signal: null });
    t.diagnostic(`${before.length} leases in Vault before SIGTERM; ${logged({ message: 'lease revoked', why: 'shutdown' }).length} revoked at shutdown`);
    assert.deepEqual(await vault.leases('database/creds/analyst-ro/'), []);
    assert.deepEqual(await vault.leases('database/creds/oncall-rw/'), []);
    assert.deepEqual(await pgRoles(live), []);
    assert.ok(logged({ message: 'lease revoked', why: 'shutdown' }).length >= before.length);
    assert.equal(logged({ message: 'credentials revoked at shutdown', failed: 0 }).length, 1);
  });

  it('no secret, Vault token or client token in any response, log line or audit record', async (t) => {
    // Every secret Vault issued during the suite, from its raw audit log: leased passwords, KV values, tokens.
    const secrets = new Set<string>(clientTokens);
    for (const line of readFileSync(vaultAudit, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const e = JSON.parse(line);
      const d = e.response?.data;
      if (d?.password) secrets.add(d.password);
      if (d?.data?.token) secrets.add(d.data.token);
      if (e.response?.auth?.client_token) secrets.add(e.response.auth.client_token);
      if (e.request?.data?.secret_id) secrets.add(e.request.data.secret_id);
    }
    secrets.add(readFileSync(vault.secretIdFile, 'utf8').trim());
    secrets.add(vault.rootToken);
    const passwords = [...secrets].filter((s) => !s.startsWith('ey'));
    assert.ok(passwords.length >= 10, `the suite saw many secrets (${passwords.length})`);
    const haystacks: Record<string, string> = {
      'gateway stderr': gw.process.stderr(),
      'gateway stdout': gw.process.stdout(),
      'audit file': readFileSync(auditFile, 'utf8'),
      responses: responses.join('\n'),
    };
    t.diagnostic(`${secrets.size} secret values (${passwords.length} from Vault) searched in ${Object.values(haystacks).reduce((n, h) => n + h.length, 0)} bytes of output`);
    for (const [where, text] of Object.entries(haystacks)) {
      assert.ok(text.length > 0, `${where} is not empty`);
      const found = [...secrets].filter((s) => s.length >= 8 && text.includes(s));
      assert.deepEqual(found.map((s) => `${s.slice(0, 4)}…`), [], `secrets found in ${where}`);
    }
  });
});
