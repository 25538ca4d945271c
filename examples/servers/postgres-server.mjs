// Example Streamable HTTP upstream for Portcullis: a PostgreSQL database as two tools, `query` (read-only SQL) and
// `execute` (writes). It holds no database credential of its own: each call connects with the user and password
// the gateway injected into that request's headers (X-DB-User / X-DB-Password, leased from Vault), so what a call
// may do is decided by PostgreSQL's grants to that leased role.
//
//   node examples/servers/postgres-server.mjs [--port N]     (0 picks a free port; prints "READY <port>" on stdout)
//   env: PG_HOST (127.0.0.1), PG_PORT (55432), PG_DB (portcullis_demo)
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import * as z from 'zod/v4';

const HOST = '127.0.0.1';

function portFromArgs(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') return argv[i + 1];
    if (argv[i].startsWith('--port=')) return argv[i].slice('--port='.length);
  }
  return process.env.PORT ?? '9002';
}
const PORT = Number(portFromArgs(process.argv.slice(2)));
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  process.stderr.write('postgres-server: invalid port\n');
  process.exit(2);
}
const DB = {
  host: process.env.PG_HOST ?? '127.0.0.1',
  port: Number(process.env.PG_PORT ?? 55432),
  database: process.env.PG_DB ?? 'portcullis_demo',
};
const MAX_ROWS = 500;
const log = (msg) => process.stderr.write(`postgres-server: ${msg}\n`);

const text = (t) => ({ type: 'text', text: t });
const toolError = (msg) => ({ content: [text(msg)], isError: true });

/** The credential for this request, from the headers the gateway set; never from the server's own configuration. */
function credentialOf(extra) {
  const h = extra.requestInfo?.headers ?? {};
  const user = h['x-db-user'];
  const password = h['x-db-password'];
  if (typeof user !== 'string' || typeof password !== 'string' || !user || !password) return null;
  return { user, password };
}

/**
 * One connection per call, closed afterwards: a leased role lives minutes and is then dropped, so a pool keyed by
 * credential would only keep connections of roles that no longer exist.
 */
async function withConnection(cred, fn) {
  const client = new pg.Client({ ...DB, ...cred, connectionTimeoutMillis: 5000, statement_timeout: 15000, application_name: 'portcullis-postgres-example' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** PostgreSQL's own words (e.g. "permission denied for table inventory"), with its SQLSTATE. */
function pgError(err) {
  const code = err?.code ? ` (SQLSTATE ${err.code})` : '';
  return toolError(`postgres: ${err?.message ?? String(err)}${code}`);
}

function rowsResult(r) {
  const rows = r.rows.slice(0, MAX_ROWS);
  const note = r.rows.length > MAX_ROWS ? `\n(${r.rows.length - MAX_ROWS} more rows not shown)` : '';
  return {
    content: [text(JSON.stringify(rows, null, 2) + note)],
    structuredContent: { rows, rowCount: r.rowCount ?? rows.length, command: r.command },
  };
}

const sqlInput = {
  sql: z.string().min(1).describe('One SQL statement; use $1, $2, ... for parameters'),
  params: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).max(100).optional().describe('Values for $1, $2, ...'),
};

function buildServer() {
  const server = new McpServer({ name: 'postgres-server', version: '1.0.0' });

  server.registerTool(
    'query',
    {
      description: 'Run a read-only SQL query (in a READ ONLY transaction) and return the rows as JSON.',
      inputSchema: sqlInput,
      annotations: { readOnlyHint: true },
    },
    async ({ sql, params }, extra) => {
      const cred = credentialOf(extra);
      if (!cred) return toolError('no database credential: this server only works behind the Portcullis gateway, which injects one per call');
      try {
        return await withConnection(cred, async (c) => {
          await c.query('BEGIN TRANSACTION READ ONLY');
          try {
            const r = await c.query(sql, params ?? []);
            return rowsResult(r);
          } finally {
            await c.query('ROLLBACK').catch(() => undefined);
          }
        });
      } catch (err) {
        return pgError(err);
      }
    },
  );

  server.registerTool(
    'execute',
    {
      description: 'Run one SQL statement that changes data (INSERT, UPDATE, DELETE, ...) and return the affected row count.',
      inputSchema: sqlInput,
      annotations: { readOnlyHint: false, destructiveHint: true },
    },
    async ({ sql, params }, extra) => {
      const cred = credentialOf(extra);
      if (!cred) return toolError('no database credential: this server only works behind the Portcullis gateway, which injects one per call');
      try {
        return await withConnection(cred, async (c) => {
          const r = await c.query(sql, params ?? []);
          return {
            content: [text(`${r.command ?? 'OK'} ${r.rowCount ?? 0}`)],
            structuredContent: { rows: (r.rows ?? []).slice(0, MAX_ROWS), rowCount: r.rowCount ?? 0, command: r.command },
          };
        });
      } catch (err) {
        return pgError(err);
      }
    },
  );

  return server;
}

// createMcpExpressApp adds the SDK's DNS-rebinding (Host header) protection for 127.0.0.1 and parses JSON.
const app = createMcpExpressApp({ host: HOST });
const sessions = new Map(); // sessionId -> transport

function jsonRpcError(res, status, code, message) {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

app.post('/mcp', async (req, res) => {
  try {
    const sessionId = req.headers['mcp-session-id'];
    const transport = sessionId ? sessions.get(sessionId) : undefined;
    if (transport) return await transport.handleRequest(req, res, req.body);
    if (sessionId) return jsonRpcError(res, 404, -32001, 'Session not found');
    if (!isInitializeRequest(req.body)) return jsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    const fresh = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (sid) => sessions.set(sid, fresh),
    });
    fresh.onclose = () => {
      if (fresh.sessionId) sessions.delete(fresh.sessionId);
    };
    await buildServer().connect(fresh);
    await fresh.handleRequest(req, res, req.body);
  } catch (err) {
    // The message only: an error object here could carry the request, and so the injected password.
    log(`error handling POST: ${err?.message ?? err}`);
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
  }
});

async function handleSessionRequest(req, res) {
  const sessionId = req.headers['mcp-session-id'];
  if (!sessionId) return res.status(400).send('Missing mcp-session-id header');
  const transport = sessions.get(sessionId);
  if (!transport) return jsonRpcError(res, 404, -32001, 'Session not found');
  try {
    await transport.handleRequest(req, res);
  } catch (err) {
    log(`error handling ${req.method}: ${err?.message ?? err}`);
    if (!res.headersSent) res.status(500).send('Internal server error');
  }
}
app.get('/mcp', handleSessionRequest);
app.delete('/mcp', handleSessionRequest);

const httpServer = app.listen(PORT, HOST, (err) => {
  if (err) {
    log(`failed to listen: ${err.message}`);
    process.exit(1);
  }
  const port = httpServer.address().port;
  log(`listening on http://${HOST}:${port}/mcp (database ${DB.database} at ${DB.host}:${DB.port})`);
  process.stdout.write(`READY ${port}\n`);
});

async function shutdown() {
  for (const transport of sessions.values()) await transport.close().catch(() => {});
  httpServer.closeAllConnections?.();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
