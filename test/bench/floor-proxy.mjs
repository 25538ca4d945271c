// The floor (arm F): the least a Node HTTP hop can cost. A bare reverse proxy with no MCP logic, no auth, no policy, no
// audit: the request streams to the upstream through one keep-alive undici Pool and the response streams back, every
// header included (so Mcp-Session-Id and MCP-Protocol-Version pass both ways). Gateway − floor is what Portcullis adds
// on top of the hop itself (shared/performance.md §0).
//
//   node test/bench/floor-proxy.mjs --upstream http://127.0.0.1:PORT/mcp [--port 0]   prints "READY <port>"
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const upstream = new URL(arg('upstream', ''));
const pool = new Pool(upstream.origin, { connections: 256, pipelining: 1 });
// Hop-by-hop headers belong to one connection, not to the message (RFC 9110 §7.6.1).
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);
const strip = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => !HOP.has(k)));

const server = createServer(async (req, res) => {
  try {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'DELETE';
    const up = await pool.request({ path: upstream.pathname, method: req.method, headers: strip(req.headers), body: hasBody ? req : null });
    res.writeHead(up.statusCode, strip(up.headers));
    await pipeline(up.body, res);
  } catch (err) {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(String(err?.code ?? 'bad gateway'));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(Number(arg('port', '0')), '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close().finally(() => process.exit(0));
});
