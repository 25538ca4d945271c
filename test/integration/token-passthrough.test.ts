// C7 (and the token part of C23): the client's JWT never leaves the gateway: not in the HTTP upstream's headers or
// bodies, not in the STDIO child's messages, environment or argv, not in logs or tool results.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { connectClient, textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { buildAllowAllBundle } from '../helpers/policies.js';
import { findPids, waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer } from '../helpers/tokens.js';
import { httpServer, startHttpUpstream, stdioServer } from '../helpers/upstreams.js';

describe('C7: no token passthrough', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let token: string;
  let httpRecord: string;
  let stdioRecord: string;
  let stdioArgRecord: string;

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    httpRecord = join(dir, 'http.jsonl');
    stdioRecord = join(dir, 'stdio-env.jsonl');
    stdioArgRecord = join(dir, 'stdio-arg.jsonl');
    const up = scope.defer(await startHttpUpstream({ record: httpRecord }), (u) => u.stop());
    const issuer = await createIssuer(dir);
    gw = scope.defer(
      await startGateway(dir, {
        auth: issuer.authConfig(),
        policy: { bundle: buildAllowAllBundle(dir) },
        servers: [
          httpServer('web', up.url),
          // One child records via RECORD_FILE (env), one via --record (argv), so both launch paths are covered.
          stdioServer('local', { record: stdioRecord }),
          stdioServer('local2', { args: ['--record', stdioArgRecord] }),
        ],
      }),
      (g) => g.stop(),
    );
    token = await issuer.mint({ sub: 'alice', roles: ['engineer'], client_id: 'agent-1' });
  });
  after(() => scope.close());

  it('C7: grep upstream records, child env/argv, tool results and gateway output for the client JWT: 0 hits', async () => {
    const client = await connectClient(gw.url, token);
    const seen: string[] = [];
    try {
      for (const name of ['web__whoami', 'web__echo', 'local__env', 'local__whoami', 'local__echo', 'local2__env']) {
        const r = await client.callTool({ name, arguments: name.endsWith('echo') ? { text: 'hello' } : {}, _meta: { progressToken: 'p1' } });
        seen.push(JSON.stringify(r));
      }
      await client.listTools();
    } finally {
      await client.close();
    }
    // whoami over HTTP shows the headers the upstream got: no Authorization header at all.
    const whoami = JSON.parse(textOf(JSON.parse(seen[0]!))) as { headers: Record<string, string> };
    assert.equal(whoami.headers.authorization, undefined);

    const signature = token.split('.')[2]!;
    const payload = token.split('.')[1]!;
    const haystacks: Record<string, string> = {
      'HTTP upstream record': await waitFor(() => readFileSync(httpRecord, 'utf8'), 'http record'),
      'STDIO record (env)': readFileSync(stdioRecord, 'utf8'),
      'STDIO record (argv)': readFileSync(stdioArgRecord, 'utf8'),
      'tool results': seen.join('\n'),
      'gateway stdout': gw.process.stdout(),
      'gateway stderr': gw.process.stderr(),
    };
    for (const pid of [...findPids(stdioRecord), ...findPids(stdioArgRecord)]) {
      haystacks[`/proc/${pid}/environ`] = readFileSync(`/proc/${pid}/environ`, 'utf8');
      haystacks[`/proc/${pid}/cmdline`] = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    }
    assert.ok(Object.keys(haystacks).some((k) => k.endsWith('environ')), 'found the STDIO children in /proc');
    // The records prove the calls arrived, so the greps below are over real traffic.
    assert.match(haystacks['HTTP upstream record']!, /"tools\/call"/);
    assert.match(haystacks['STDIO record (env)']!, /"tools\/call"/);
    for (const [where, text] of Object.entries(haystacks)) {
      assert.ok(!text.includes(signature), `JWT signature found in ${where}`);
      assert.ok(!text.includes(payload), `JWT payload found in ${where}`);
      assert.ok(!/authorization"\s*:\s*"Bearer/i.test(text), `a bearer Authorization header found in ${where}`);
    }
  });
});
