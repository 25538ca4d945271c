/**
 * How upstream-initiated messages reach a client: on the SSE answer stream of the client request they relate to,
 * or on the session's GET stream. Requests relayed to the client (sampling, elicitation, roots/list) get a
 * gateway id; the client's answer, POSTed back, is matched by it.
 */
import type { Response } from 'express';
import { CLIENT_TIMEOUT, CLIENT_UNREACHABLE } from '../errors/codes.js';
import type { JsonRpcNotification } from '../protocol/json-rpc.js';
import type { Relay, UpstreamAnswer } from '../upstream/index.js';
import type { Session } from './sessions.js';

/** How long a relayed request waits for the client's answer (a human may be answering an elicitation). */
const CLIENT_ANSWER_TIMEOUT_MS = 10 * 60_000;

export function sseEvent(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

/** Sends a request to the client over `write` and waits for the answer POSTed back. */
function askClient(session: Session, write: (text: string) => boolean, method: string, params: Record<string, unknown> | undefined): Promise<UpstreamAnswer> {
  // A prefix keeps gateway ids apart from anything a client might echo by mistake.
  const id = `pc-${session.nextOutboundId++}`;
  return new Promise<UpstreamAnswer>((resolve) => {
    const timer = setTimeout(() => {
      session.awaiting.delete(id);
      resolve({ ok: false, error: { code: CLIENT_TIMEOUT, message: `client did not answer ${method} in time` } });
    }, CLIENT_ANSWER_TIMEOUT_MS);
    timer.unref();
    session.awaiting.set(id, { resolve, timer });
    const msg: Record<string, unknown> = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    if (!write(sseEvent(msg))) {
      clearTimeout(timer);
      session.awaiting.delete(id);
      resolve({ ok: false, error: { code: CLIENT_UNREACHABLE, message: `client has no open stream for ${method}` } });
    }
  });
}

/** Messages that relate to no request: the session's GET stream, when the client has one open. */
export function sessionRelay(session: Session): Relay {
  const write = (text: string) => {
    const s = session.stream;
    if (!s || s.writableEnded) return false;
    s.write(text);
    return true;
  };
  return {
    notify: (n: JsonRpcNotification) => void write(sseEvent(n)),
    request: (method, params) => askClient(session, write, method, params),
    available: () => session.stream !== undefined && !session.stream.writableEnded,
  };
}

/**
 * Messages related to one client request go on its own response, which turns from a JSON answer into an SSE
 * stream the first time one arrives (the transport spec lets the server choose either).
 */
export class RequestStream implements Relay {
  private open = false;

  constructor(
    private readonly res: Response,
    /** The 2025 session requests to the client are asked on; none for a stateless (2026-07-28) request. */
    private readonly session?: Session,
  ) {}

  get streaming(): boolean {
    return this.open;
  }

  private write = (text: string): boolean => {
    if (this.res.writableEnded || this.res.destroyed) return false;
    if (!this.open) {
      this.open = true;
      this.res.status(200);
      this.res.setHeader('Content-Type', 'text/event-stream');
      this.res.setHeader('Cache-Control', 'no-cache');
      this.res.flushHeaders();
    }
    this.res.write(text);
    return true;
  };

  notify(n: JsonRpcNotification): void {
    this.write(sseEvent(n));
  }

  request(method: string, params: Record<string, unknown> | undefined): Promise<UpstreamAnswer> {
    if (!this.session) return Promise.resolve({ ok: false, error: { code: CLIENT_UNREACHABLE, message: `${method} cannot be sent to this client` } });
    return askClient(this.session, this.write, method, params);
  }

  /** Sends the final answer: as the last SSE event if the stream is open, else as a plain JSON body. */
  finish(json: string): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (this.open) {
      this.res.end(`event: message\ndata: ${json}\n\n`);
      return;
    }
    this.res.status(200);
    this.res.setHeader('Content-Type', 'application/json');
    this.res.end(json);
  }
}
