/**
 * The Express application: guards, health, OAuth protected resource metadata, and the MCP routes.
 * Order matters: Host/Origin run first so a rebinding attempt is refused before it can even probe auth.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { INTERNAL_ERROR, PARSE_ERROR } from '../errors/codes.js';
import type { AuthenticationError } from '../errors/index.js';
import { challenge, resourceMetadata } from '../identity/index.js';
import type { Logger } from '../telemetry/logger.js';
import { checkHostAndOrigin, type OriginPolicy } from './guards.js';
import { createMcpEndpoint, refuse, type McpEndpointDeps } from './mcp-endpoint.js';

export interface HttpAppOptions {
  origin: OriginPolicy;
  maxBodyBytes: number;
  publicUrl?: string;
  issuer?: string;
  scopes: string[];
  log: Logger;
  readiness: () => { ready: boolean; detail: Record<string, unknown> };
  /** More routes (the approvals API and console), mounted after the guards and before the 404. */
  routes?: express.Router;
  endpoint: Omit<McpEndpointDeps, 'challenge'>;
}

const METADATA_PATH = '/.well-known/oauth-protected-resource';

export type GatewayApp = express.Express & {
  /** Handles POST /mcp[/<serverId>] without the router; returns false for anything else. */
  fastPost?: (req: IncomingMessage, res: ServerResponse) => boolean;
};

export function createHttpApp(opts: HttpAppOptions): GatewayApp {
  const app: GatewayApp = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const baseUrl = (req: Request) => opts.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`;

  app.use(function hostAndOriginGuard(req: Request, res: Response, next: NextFunction) {
    const bad = checkHostAndOrigin(req, opts.origin);
    if (bad) return refuse(res, bad.status, bad.message);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const r = opts.readiness();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not ready', ...r.detail });
  });

  // RFC 9728: each protected resource has its own metadata at the well-known path suffixed with its path,
  // and `resource` must be exactly the URL the client used.
  const metadata = (req: Request, res: Response) => {
    const suffix = req.path.slice(METADATA_PATH.length);
    if (suffix !== '' && suffix !== '/mcp' && !/^\/mcp\/[^/]+$/.test(suffix)) return res.status(404).json({ error: 'not found' });
    const serverId = suffix.startsWith('/mcp/') ? suffix.slice(5) : null;
    if (serverId !== null && !opts.endpoint.serverExists(serverId)) return res.status(404).json({ error: 'not found' });
    res.setHeader('Cache-Control', 'max-age=300');
    res.json(resourceMetadata(`${baseUrl(req)}${suffix === '' ? '/mcp' : suffix}`, opts.issuer, opts.scopes));
  };
  app.get(METADATA_PATH, metadata);
  app.get(`${METADATA_PATH}/*rest`, metadata);

  const sendChallenge = (req: Request, res: Response, err: AuthenticationError) => {
    const path = req.baseUrl + req.path;
    res.setHeader('WWW-Authenticate', challenge(err, `${baseUrl(req)}${METADATA_PATH}${path}`, opts.scopes));
    res.status(err.httpStatus).json({ error: err.oauthError ?? 'invalid_token', error_description: err.description });
  };

  const mcp = createMcpEndpoint({ ...opts.endpoint, challenge: sendChallenge });
  // strict: false lets valid JSON that is not an object through to the JSON-RPC check (-32600); -32700 is only
  // for text that is not JSON at all.
  const parseJson = express.json({ limit: opts.maxBodyBytes, strict: false, type: ['application/json', 'application/*+json'] });
  for (const path of ['/mcp', '/mcp/:serverId']) {
    app.post(path, parseJson, mcp.post);
    app.get(path, mcp.get);
    app.delete(path, mcp.delete);
    app.all(path, (_req, res) => {
      res.setHeader('Allow', 'GET, POST, DELETE');
      refuse(res, 405, 'Method Not Allowed');
    });
  }

  if (opts.routes) app.use(opts.routes);

  /**
   * The hot route (POST /mcp, POST /mcp/<serverId>) skips the Express router and body-parser: they cost about a
   * seventh of a call's CPU. It keeps Express's request/response helpers (the same prototypes Express installs)
   * and runs the same guard, size limit, parse and endpoint code; everything else goes through the app.
   */
  const fastPost = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let serverId: string | undefined;
    if (path === '/mcp' || path === '/mcp/') serverId = undefined;
    else if (path.startsWith('/mcp/') && path.indexOf('/', 5) === -1) {
      // A malformed escape (`/mcp/%`, `%E0%A4%A`) is a bad request, never an exception: decodeURIComponent throws.
      const id = safeDecode(path.slice(5));
      if (id === undefined) {
        refuseAndClose(res, 400, 'Bad Request: malformed percent-encoding in the path');
        return true;
      }
      serverId = id;
    } else return false;
    const ctype = (req.headers['content-type'] ?? '').toLowerCase();
    // Anything unusual (compressed or non-JSON bodies) takes the general path and its full error handling.
    if (!ctype.startsWith('application/json') || (req.headers['content-encoding'] ?? 'identity') !== 'identity') return false;
    // A body declared too large is refused by the general path, which drains it the way clients expect.
    if (Number(req.headers['content-length'] ?? 0) > opts.maxBodyBytes) return false;
    const xreq = Object.setPrototypeOf(req, app.request) as Request;
    const xres = Object.setPrototypeOf(res, app.response) as Response;
    (xreq as unknown as { res: Response }).res = xres;
    (xreq as unknown as { baseUrl: string; originalUrl: string }).baseUrl = '';
    (xreq as unknown as { baseUrl: string; originalUrl: string }).originalUrl = url;
    (xres as unknown as { req: Request }).req = xreq;
    xres.locals = Object.create(null) as Record<string, unknown>;
    const bad = checkHostAndOrigin(xreq, opts.origin);
    if (bad) {
      refuse(xres, bad.status, bad.message);
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > opts.maxBodyBytes) {
        tooLarge = true;
        chunks.length = 0;
        // Stop reading: a chunked body may never end, and draining it would cost unbounded bandwidth and CPU.
        refuseAndClose(xres, 413, `Payload Too Large: limit is ${opts.maxBodyBytes} bytes`);
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) return;
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      try {
        xreq.body = JSON.parse(text) as unknown;
      } catch {
        refuse(xres, 400, 'Parse error: body is not valid JSON', PARSE_ERROR);
        return;
      }
      (xreq as unknown as { params: Record<string, string> }).params = serverId === undefined ? {} : { serverId };
      mcp.post(xreq, xres, (err?: unknown) => {
        if (err !== undefined) lastResort(opts.log, xres, err);
      });
    });
    return true;
  };
  app.fastPost = fastPost;

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });

  // The one error handler: body-parser failures become JSON-RPC errors, anything else a generic 500.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (res.headersSent) {
      res.end();
      return;
    }
    if (e.type === 'entity.too.large') return refuseAndClose(res, 413, `Payload Too Large: limit is ${opts.maxBodyBytes} bytes`);
    if (e.type === 'entity.parse.failed') return refuse(res, 400, 'Parse error: body is not valid JSON', PARSE_ERROR);
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return refuse(res, 415, 'Unsupported encoding');
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return refuse(res, e.status, 'Bad Request');
    lastResort(opts.log, res, err);
  });
  return app;
}

/** decodeURIComponent without the throw: undefined for a malformed escape. */
export function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** How long, and how many more bytes, a refused request's connection is read (and discarded) before it is cut. */
const LINGER_MS = 1000;
const LINGER_BYTES = 1024 * 1024;

/**
 * Answers and closes the connection: for refusals where the rest of the request must not be read (an oversized
 * or endless body). A lingering close: the connection stays open for a moment while what the client is still
 * sending is discarded (bounded in time and bytes), then it is cut. Closing at once, with unread data in the
 * socket, makes the kernel reset the connection, and the client can lose the answer before it reads it; reading
 * on without a bound is what an endless body exploits.
 */
export function refuseAndClose(res: ServerResponse, status: number, message: string, code?: number): void {
  const req = res.req;
  const socket = req?.socket;
  if (!req || !socket) {
    if (res.headersSent) res.end();
    else refuse(res, status, message, code);
    return;
  }
  // `Connection: close` so no client reuses the connection. With it Node ends the response with
  // socket.destroySoon(), which destroys the socket as soon as the answer is written: here it only half-closes
  // (FIN after the answer), and the linger below decides when the socket goes.
  if (!res.headersSent) res.setHeader('Connection', 'close');
  socket.destroySoon = () => {
    socket.end();
  };
  if (res.headersSent) res.end();
  else refuse(res, status, message, code);
  let discarded = 0;
  const cut = () => socket.destroy();
  const timer = setTimeout(cut, LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.on('data', (c: Buffer) => {
    discarded += c.length;
    if (discarded > LINGER_BYTES) cut();
  });
  req.resume();
}

/**
 * The last-resort answer for anything that escaped a handler: a 500 (or the end of a stream already started), a
 * log line, and the process stays up. Request handlers are expected never to get here; every path that does is a
 * bug, logged at error level so it is seen.
 */
export function lastResort(log: Logger, res: ServerResponse, err: unknown): void {
  log.error('unhandled error in a request handler', { error: (err as Error)?.stack ?? String(err) });
  try {
    if (!res.headersSent) refuse(res, 500, 'Internal error', INTERNAL_ERROR);
    else if (!res.writableEnded) res.end();
  } catch {
    res.destroy();
  }
}
