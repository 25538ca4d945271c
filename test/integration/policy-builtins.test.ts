// Host builtins through the real gateway process: a policy that needs time.*, semver.* and units.* (none of them
// compiled into WASM) decides tool calls instead of failing every one with "not implemented", and time.now_ns()
// is the request's own time (input.request.time).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBundle, regoPolicy, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { rawCall, rawSession } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { Scope } from '../helpers/scope.js';
import { directClient, httpServer, startHttpUpstream } from '../helpers/upstreams.js';

// Allowed unless the text is a version below 2.0.0; the deny reason reports what the builtins computed.
const RULES = `
now_is_request_time := time.now_ns() == time.parse_rfc3339_ns(input.request.time)

too_old if {
	semver.is_valid(input.arguments.text)
	semver.compare(input.arguments.text, "2.0.0") < 0
}

decision := {"outcome": "allow", "reasons": ["recent enough"]} if {
	input.tool.name == "echo"
	time.now_ns() > time.parse_rfc3339_ns("2020-01-01T00:00:00Z")
	not too_old
}

decision := {"outcome": "deny", "reasons": [concat(" ", [
	input.arguments.text, "is older than 2.0.0;",
	"now_ns is request.time:", json.marshal(now_is_request_time), ";",
	"2Ki =", json.marshal(units.parse("2Ki")), ";",
	"1h30m =", json.marshal(time.parse_duration_ns("1h30m")),
])]} if too_old
`;

describe('policy builtins in the running gateway', () => {
  const scope = new Scope();
  let gw: RunningGateway;
  let sid: string;
  let upstreamCalls: () => Promise<number>;
  const echo = (text: string) => rawCall(gw.url, null, sid, 'web__echo', { text });

  before(async () => {
    const { dir, cleanup } = tempDir();
    scope.defer(null, cleanup);
    const bundle = buildBundle(writePolicyDir(join(dir, 'src'), { 'p.rego': regoPolicy(RULES) }), join(dir, 'builtins.tar.gz'), 'rev-builtins');
    const up = scope.defer(await startHttpUpstream(), (u) => u.stop());
    gw = scope.defer(await startGateway(dir, { auth: { mode: 'none' }, policy: { bundle }, servers: [httpServer('web', up.url)] }), (g) => g.stop());
    sid = await rawSession(gw.url, null);
    const direct = scope.defer(await directClient(up.url), (d) => d.close());
    upstreamCalls = () => direct.countCalls();
  });
  after(() => scope.close());

  it('a call the builtins allow reaches the upstream', async () => {
    const r = await echo('2.1.0');
    assert.equal(r.json?.error, undefined, r.text);
    assert.equal(r.json?.result?.content?.[0]?.text, '2.1.0');
  });

  it('a call the builtins deny is refused with their results in the reason, and never reaches the upstream', async () => {
    const before = await upstreamCalls();
    const r = await echo('1.2.3');
    assert.equal(r.json?.error?.code, -32010, r.text);
    assert.deepEqual(r.json?.error?.data?.reasons, [
      '1.2.3 is older than 2.0.0; now_ns is request.time: true ; 2Ki = 2048 ; 1h30m = 5400000000000',
    ]);
    assert.equal(await upstreamCalls(), before);
  });
});
