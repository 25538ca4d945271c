// Example Streamable HTTP upstream for Portcullis: a small in-memory notes service whose seed data contains e-mail addresses and card numbers so masking policies have something to mask.
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';

const HOST = '127.0.0.1';

function portFromArgs(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') return argv[i + 1];
    if (argv[i].startsWith('--port=')) return argv[i].slice('--port='.length);
  }
  return process.env.PORT ?? '9001';
}
const PORT = Number(portFromArgs(process.argv.slice(2)));
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  process.stderr.write(`notes-server: invalid port\n`);
  process.exit(2);
}

// One store for the whole process, not per session, so a note created through one gateway session
// is visible from another — that is what a real backend would do.
const notes = new Map();
let nextId = 1;
function addNote(title, body) {
  const id = `note-${nextId++}`;
  notes.set(id, { id, title, body });
  return notes.get(id);
}
addNote('Team contacts', 'Carol runs billing: carol@example.com. Company card on file: 4111 1111 1111 1111.');
addNote('Travel booking', 'Flights for the offsite were paid with card 5555 5555 5555 4444 (exp 12/29). Receipts go to dave@example.com.');
addNote('Vendor refund', 'Refund 4242-4242-4242-4242 via erin@example.org once the invoice is confirmed.');

const text = (t) => ({ type: 'text', text: t });
const notFound = (id) => ({ content: [text(`no note with id ${id}`)], isError: true });
const summary = (n) => `${n.id}: ${n.title}`;

function buildServer() {
  const server = new McpServer({ name: 'notes-server', version: '1.0.0' });

  server.registerTool(
    'list_notes',
    { description: 'List all notes (id and title).', inputSchema: {}, annotations: { readOnlyHint: true } },
    async () => ({ content: [text(notes.size ? [...notes.values()].map(summary).join('\n') : '(no notes)')] }),
  );

  server.registerTool(
    'read_note',
    {
      description: 'Read one note by id.',
      inputSchema: { id: z.string().describe('Note id, e.g. note-1') },
      outputSchema: { id: z.string(), title: z.string(), body: z.string() },
      annotations: { readOnlyHint: true },
    },
    async ({ id }) => {
      const note = notes.get(id);
      if (!note) return notFound(id);
      return { content: [text(`# ${note.title}\n\n${note.body}`)], structuredContent: { ...note } };
    },
  );

  server.registerTool(
    'search_notes',
    {
      description: 'Case-insensitive substring search over note titles and bodies.',
      inputSchema: { query: z.string() },
      annotations: { readOnlyHint: true },
    },
    async ({ query }) => {
      const q = query.toLowerCase();
      const hits = [...notes.values()].filter((n) => `${n.title}\n${n.body}`.toLowerCase().includes(q));
      return {
        content: [text(hits.length ? hits.map((n) => `${summary(n)}\n  ${n.body}`).join('\n') : 'no matches')],
      };
    },
  );

  server.registerTool(
    'create_note',
    {
      description: 'Create a note and return its id.',
      inputSchema: { title: z.string(), body: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: false },
    },
    async ({ title, body }) => {
      const note = addNote(title, body);
      return { content: [text(`created ${note.id}`)] };
    },
  );

  server.registerTool(
    'delete_note',
    {
      description: 'Delete a note by id.',
      inputSchema: { id: z.string() },
      annotations: { destructiveHint: true },
    },
    async ({ id }) => {
      if (!notes.delete(id)) return notFound(id);
      return { content: [text(`deleted ${id}`)] };
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
      // Store on initialisation rather than after handleRequest so a fast follow-up request finds it.
      onsessioninitialized: (sid) => sessions.set(sid, fresh),
    });
    fresh.onclose = () => {
      if (fresh.sessionId) sessions.delete(fresh.sessionId);
    };
    await buildServer().connect(fresh);
    await fresh.handleRequest(req, res, req.body);
  } catch (err) {
    process.stderr.write(`notes-server: error handling POST: ${err?.stack ?? err}\n`);
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
    process.stderr.write(`notes-server: error handling ${req.method}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) res.status(500).send('Internal server error');
  }
}
app.get('/mcp', handleSessionRequest);
app.delete('/mcp', handleSessionRequest);

const httpServer = app.listen(PORT, HOST, (err) => {
  if (err) {
    process.stderr.write(`notes-server: failed to listen: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`notes-server listening on http://${HOST}:${httpServer.address().port}/mcp\n`);
});

async function shutdown() {
  for (const transport of sessions.values()) await transport.close().catch(() => {});
  httpServer.closeAllConnections?.();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
