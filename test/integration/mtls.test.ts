// mTLS both ways, with nothing mocked: a real OpenBao dev server whose PKI secrets engine is the test CA, the real
// gateway process serving HTTPS and requiring client certificates, and an HTTPS MCP upstream (node:https + the SDK
// server) that itself requires a client certificate signed by the same CA. The gateway's outbound certificate is
// issued by Vault with a 6 s TTL, so it is re-issued (at 2/3 of its life) while the test runs.
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { buildBundle, writePolicyDir } from '../helpers/bundles.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { textOf } from '../helpers/mcp.js';
import { tempDir } from '../helpers/paths.js';
import { startPkiVault, type IssuedCert, type PkiVault } from '../helpers/pki.js';
import { waitFor } from '../helpers/process.js';
import { Scope } from '../helpers/scope.js';
import { createIssuer, type TokenIssuer } from '../helpers/tokens.js';

// Only the certificate subject "agent-a" sees and may call tools; in `instead` mode nothing else identifies callers.
const POLICY = `package portcullis

visible contains tool.key if {
	some tool in input.tools
	input.subject.sub == "agent-a"
}

default decision := {"outcome": "deny", "reasons": ["only agent-a"]}

decision := {"outcome": "allow", "reasons": ["agent-a by client certificate"]} if {
	input.subject.sub == "agent-a"
	startswith(input.subject.iss, "mtls:")
	"analyst" in input.subject.roles
	input.subject.claims.client_certificate.cn == "agent-a"
}
`;

/** Vault writes serials as "3a:5f:…", Node as "3A5F…". */
const normSerial = (s: string) => s.replace(/:/g, '').toUpperCase().replace(/^0+/, '');

interface SecureUpstream {
  url: string;
  /** Serials of the client certificates of every TLS connection the upstream accepted. */
  serials: Set<string>;
  close(): Promise<void>;
}

async function startSecureUpstream(pki: PkiVault): Promise<SecureUpstream> {
  const cert = await pki.issue('localhost', { ipSans: '127.0.0.1' });
  const serials = new Set<string>();
  const server: Server = createHttpsServer({ cert: cert.certificate, key: cert.privateKey, ca: pki.caPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const serial = (req.socket as TLSSocket).getPeerCertificate().serialNumber;
    serials.add(normSerial(serial));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
      const mcp = new McpServer({ name: 'secure', version: '1.0.0' });
      mcp.registerTool('whoami', { description: 'The serial of the client certificate this call came with.' }, async () => ({ content: [{ type: 'text', text: normSerial(serial) }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close());
      void mcp.connect(transport).then(() => transport.handleRequest(req, res, body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/mcp`,
    serials,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** An SDK client over HTTPS through an undici Agent with the given TLS material. */
async function tlsClient(url: string, tls: { ca: string; cert?: IssuedCert; token?: string }): Promise<{ client: Client; agent: Agent }> {
  const agent = new Agent({ connect: { ca: tls.ca, ...(tls.cert ? { cert: tls.cert.certificate, key: tls.cert.privateKey } : {}) } });
  const client = new Client({ name: 'mtls-it', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: tls.token ? { headers: { Authorization: `Bearer ${tls.token}` } } : undefined,
    fetch: ((input: string | URL, init?: RequestInit) => undiciFetch(input, { ...(init as object), dispatcher: agent })) as unknown as typeof fetch,
  });
  await client.connect(transport);
  return { client, agent };
}

describe('mTLS both ways', { timeout: 90_000 }, () => {
  const scope = new Scope();
  let pki: PkiVault;
  let upstream: SecureUpstream;
  let gw: RunningGateway;

  before(async () => {
    const { dir } = scope.defer(tempDir('portcullis-it-mtls-'), (t) => t.cleanup());
    pki = scope.defer(await startPkiVault({ maxTtl: '1h' }), (p) => p.destroy());
    upstream = scope.defer(await startSecureUpstream(pki), (u) => u.close());
    const gwPair = pki.writePair('gateway', await pki.issue('localhost', { ipSans: '127.0.0.1' }));
    const bundle = buildBundle(writePolicyDir(join(dir, 'policy'), { 'policy.rego': POLICY }), join(dir, 'bundle.tar.gz'));
    gw = scope.defer(
      await startGateway(dir, {
        listen: { host: '127.0.0.1', port: 0, tls: { ...gwPair, clientCaFile: pki.caFile, requireClientCert: true } },
        auth: { mode: 'none', clientCertificate: { mode: 'instead', roles: { 'agent-a': ['analyst'] } } },
        policy: { bundle },
        vault: { address: pki.addr, auth: { method: 'token', tokenFile: pki.tokenFile } },
        servers: [{ id: 'secure', url: upstream.url, tls: { clientCert: { vaultPki: { mount: pki.mount, role: pki.role, commonName: 'portcullis', ttl: '6s' } } } }],
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('serves HTTPS and refuses a client without a certificate', async () => {
    assert.match(gw.url, /^https:\/\//);
    const agent = new Agent({ connect: { ca: pki.caPem } });
    try {
      await assert.rejects(
        undiciFetch(gw.url, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
        }),
      );
    } finally {
      await agent.close();
    }
  });

  it('maps the CN of a verified certificate to the subject (instead mode), visible through policy', async () => {
    const a = await tlsClient(gw.url, { ca: pki.caPem, cert: await pki.issue('agent-a') });
    const b = await tlsClient(gw.url, { ca: pki.caPem, cert: await pki.issue('agent-b') });
    try {
      const toolsA = (await a.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(toolsA, ['secure__whoami']);
      const toolsB = (await b.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(toolsB, []);
    } finally {
      await a.client.close();
      await b.client.close();
      await a.agent.close();
      await b.agent.close();
    }
  });

  it('reaches an mTLS upstream with a Vault-issued client certificate, re-issued before it expires', async () => {
    const a = await tlsClient(gw.url, { ca: pki.caPem, cert: await pki.issue('agent-a') });
    try {
      const first = textOf(await a.client.callTool({ name: 'secure__whoami', arguments: {} }));
      assert.ok(first.length > 0);
      // The 6 s certificate is re-issued at about 4 s; keep calling across it. Every call must succeed.
      const seen = new Set([first]);
      let calls = 1;
      await waitFor(
        async () => {
          const r = await a.client.callTool({ name: 'secure__whoami', arguments: {} });
          assert.notEqual(r.isError, true, textOf(r));
          calls += 1;
          seen.add(textOf(r));
          return seen.size >= 2;
        },
        'a call with a re-issued client certificate',
        15_000,
        250,
      );
      assert.ok(upstream.serials.size >= 2, `upstream saw serials ${[...upstream.serials].join(', ')}`);
      assert.ok(calls >= 2);
      const out = gw.process.stdout() + gw.process.stderr();
      assert.match(out, /upstream client certificate re-issued/);
      // Both serials are logged (Vault's colon form); the private key never is.
      const flat = out.replace(/:/g, '').toUpperCase();
      for (const s of seen) assert.ok(flat.includes(s), `serial ${s} is in the gateway log`);
      assert.doesNotMatch(out, /PRIVATE KEY/);
    } finally {
      await a.client.close();
      await a.agent.close();
    }
  });
});

// alongside: the bearer token identifies the caller and the certificate is added to the subject, so policy can
// require both. Client certificates are asked for but not required at the handshake. The upstream is reached with
// a client certificate read from files (the other servers[].tls.clientCert form).
const ALONGSIDE_POLICY = `package portcullis

both if {
	input.subject.sub == "alice"
	input.subject.claims.client_certificate.cn == "agent-a"
}

visible contains tool.key if {
	some tool in input.tools
	both
}

default decision := {"outcome": "deny", "reasons": ["token and certificate both required"]}

decision := {"outcome": "allow", "reasons": ["alice on agent-a"]} if both
`;

describe('mTLS alongside a bearer token', { timeout: 60_000 }, () => {
  const scope = new Scope();
  let pki: PkiVault;
  let gw: RunningGateway;
  let issuer: TokenIssuer;

  before(async () => {
    const { dir } = scope.defer(tempDir('portcullis-it-mtls2-'), (t) => t.cleanup());
    pki = scope.defer(await startPkiVault(), (p) => p.destroy());
    const upstream = scope.defer(await startSecureUpstream(pki), (u) => u.close());
    const gwPair = pki.writePair('gateway', await pki.issue('localhost', { ipSans: '127.0.0.1' }));
    const outPair = pki.writePair('outbound', await pki.issue('portcullis'));
    issuer = await createIssuer(dir);
    const bundle = buildBundle(writePolicyDir(join(dir, 'policy'), { 'policy.rego': ALONGSIDE_POLICY }), join(dir, 'bundle.tar.gz'));
    gw = scope.defer(
      await startGateway(dir, {
        listen: { host: '127.0.0.1', port: 0, tls: { ...gwPair, clientCaFile: pki.caFile } },
        auth: issuer.authConfig({ clientCertificate: { mode: 'alongside' } }),
        policy: { bundle },
        servers: [{ id: 'secure', url: upstream.url, tls: { caFile: pki.caFile, clientCert: outPair } }],
      }),
      (g) => g.stop(),
    );
  });
  after(() => scope.close());

  it('needs both the token and the certificate', async () => {
    const token = await issuer.mint({ sub: 'alice' });
    const both = await tlsClient(gw.url, { ca: pki.caPem, cert: await pki.issue('agent-a'), token });
    const tokenOnly = await tlsClient(gw.url, { ca: pki.caPem, token });
    try {
      assert.deepEqual((await both.client.listTools()).tools.map((t) => t.name), ['secure__whoami']);
      assert.ok(textOf(await both.client.callTool({ name: 'secure__whoami', arguments: {} })).length > 0);
      assert.deepEqual((await tokenOnly.client.listTools()).tools, []);
      // A certificate without a token is still refused by the token check (401).
      await assert.rejects(tlsClient(gw.url, { ca: pki.caPem, cert: await pki.issue('agent-a') }), /401|Unauthorized|missing bearer/i);
    } finally {
      await both.client.close();
      await tokenOnly.client.close();
      await both.agent.close();
      await tokenOnly.agent.close();
    }
  });
});
