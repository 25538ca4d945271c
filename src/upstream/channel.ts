/** A Channel carries JSON-RPC messages to one upstream session and hands back whatever it sends: HTTP or STDIO. */
import type { ChildProcess } from 'node:child_process';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcMessage } from '../protocol/json-rpc.js';
import { HttpTransport, type HttpPool, type PostOptions } from './http-transport.js';
import type { ServerConfig } from '../config/index.js';
import { compileScrubber, type Scrubber } from '../redaction/scrub-secrets.js';
import type { Logger } from '../telemetry/logger.js';

/** A stderr line longer than this is logged in pieces: a child writing without newlines cannot grow our buffer. */
const STDERR_LINE_MAX = 64 * 1024;
/** What is kept back when a long line is cut, so a secret being written across the cut is still seen whole. */
const STDERR_KEEP = 4096;

/** Where a message from the upstream came from: the answer stream of one of our requests, or nowhere in particular. */
export type Deliver = (m: JsonRpcMessage, relatedTo: number | undefined) => void;

export interface SendOptions extends PostOptions {
  /** The id of the request being sent, so messages on its answer stream are known to relate to it. */
  requestId?: number;
}

export interface Channel {
  readonly kind: 'http' | 'stdio';
  /** Connects; `deliver` gets every message from the upstream, `onClose` fires once if the link dies. */
  start(deliver: Deliver, onClose: (reason: string) => void): Promise<void>;
  /** Resolves when the message (and, over HTTP, its whole answer) has been handled. */
  send(message: JsonRpcMessage, opts?: SendOptions): Promise<void>;
  setProtocolVersion(v: string): void;
  /** Opens the stream for upstream-initiated messages, where the transport has one. */
  /** Resolves once the stream is open (or could not be), so a request sent next cannot race it. */
  listen(): Promise<void>;
  /** Polite end: DELETE the HTTP session, or close stdin and stop the child. */
  close(): Promise<void>;
}

export class HttpChannel implements Channel {
  readonly kind = 'http' as const;
  readonly transport: HttpTransport;
  private deliver: Deliver = () => undefined;
  private listenAbort: AbortController | undefined;

  constructor(
    pool: HttpPool,
    private readonly log: Logger,
  ) {
    this.transport = new HttpTransport(pool);
  }

  async start(deliver: Deliver): Promise<void> {
    this.deliver = deliver;
    this.transport.sessionId = undefined;
  }

  send(message: JsonRpcMessage, opts: SendOptions = {}): Promise<void> {
    const related = opts.requestId;
    return this.transport.post(message, (m) => this.deliver(m, related), opts);
  }

  setProtocolVersion(v: string): void {
    this.transport.protocolVersion = v;
  }

  /** Keeps a GET stream open for upstream-initiated messages, reconnecting while the session lives. */
  listen(): Promise<void> {
    this.listenAbort?.abort();
    const ac = new AbortController();
    this.listenAbort = ac;
    let opened!: () => void;
    const ready = new Promise<void>((r) => (opened = r));
    const loop = async () => {
      let delay = 500;
      while (!ac.signal.aborted) {
        try {
          await this.transport.listen((m) => this.deliver(m, undefined), ac.signal, opened);
          delay = 500;
        } catch (err) {
          if (ac.signal.aborted) return;
          const status = (err as { status?: number }).status;
          if (status === 405 || status === 404 || status === 400) return opened(); // no stream offered, or session gone
          this.log.debug('upstream notification stream interrupted', { error: (err as Error).message });
        }
        opened();
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 10_000);
      }
    };
    void loop().finally(opened);
    return ready;
  }

  async close(): Promise<void> {
    this.listenAbort?.abort();
    await this.transport.terminate();
  }
}

export class StdioChannel implements Channel {
  readonly kind = 'stdio' as const;
  private transport: StdioClientTransport | undefined;
  private closing = false;
  /** The credentials injected into the child's environment: scrubbed from its stderr before it is logged. */
  private readonly scrubber: Scrubber | null;

  constructor(
    private readonly cfg: ServerConfig,
    private readonly log: Logger,
    private readonly extraEnv: Record<string, string> = {},
  ) {
    this.scrubber = compileScrubber(Object.values(extraEnv));
  }

  private clean(text: string): string {
    return this.scrubber ? this.scrubber.text(text).text : text;
  }

  async start(deliver: Deliver, onClose: (reason: string) => void): Promise<void> {
    this.closing = false;
    // The SDK builds the child's environment from a small safe default set plus what we pass: the gateway's own
    // environment (and so its secrets and its clients' tokens) is not inherited.
    const t = new StdioClientTransport({
      command: this.cfg.command!,
      args: this.cfg.args,
      env: { ...(this.cfg.env ?? {}), ...this.extraEnv },
      cwd: this.cfg.cwd,
      stderr: 'pipe',
    });
    this.transport = t;
    let closed = false;
    t.onmessage = (m: JSONRPCMessage) => deliver(m as JsonRpcMessage, undefined);
    t.onerror = (err: Error) => this.log.warn('stdio upstream error', { server: this.cfg.id, error: this.clean(err.message).slice(0, 2000) });
    let overflow: string | undefined;
    t.onclose = () => {
      if (closed) return;
      closed = true;
      onClose(overflow ?? (this.closing ? 'closed' : 'process exited'));
    };
    // Whole lines, so a secret split across two writes is still found; scrubbed, since a child may print its env.
    let partial = '';
    const emit = (line: string) => {
      const text = this.clean(line).trimEnd();
      if (text) this.log.debug('stdio upstream stderr', { server: this.cfg.id, text: text.slice(0, 2000) });
    };
    const decoder = new TextDecoder();
    t.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) emit(line);
      if (partial.length > STDERR_LINE_MAX) {
        const scrubbed = this.clean(partial);
        emit(scrubbed.slice(0, -STDERR_KEEP));
        partial = scrubbed.slice(-STDERR_KEEP);
      }
    });
    t.stderr?.on('end', () => {
      if (partial) emit(partial);
      partial = '';
    });
    await t.start();
    this.boundMessages(t, (reason) => (overflow = reason));
  }

  /**
   * The SDK buffers stdout until a newline with no limit, so a child writing one endless line would grow the
   * gateway without bound. Counting bytes since the last newline here, a message past maxResponseBytes stops
   * the reading and the child (the supervisor restarts it); the calls waiting on it fail naming the limit.
   * The SDK keeps its child process private; reading it is the price of not re-implementing its spawn and its
   * shutdown sequence.
   */
  private boundMessages(t: StdioClientTransport, setReason: (r: string) => void): void {
    const limit = this.cfg.maxResponseBytes ?? 16 * 1024 * 1024;
    const stdout = (t as unknown as { _process?: ChildProcess })._process?.stdout;
    if (!stdout) return;
    let since = 0;
    stdout.on('data', (chunk: Buffer) => {
      const nl = chunk.lastIndexOf(0x0a);
      since = nl === -1 ? since + chunk.length : chunk.length - nl - 1;
      if (since <= limit) return;
      const reason = `sent a message larger than ${limit} bytes (maxResponseBytes); process stopped`;
      setReason(reason);
      this.log.warn('stdio upstream message too large', { server: this.cfg.id, limit });
      stdout.destroy();
      void t.close().catch(() => undefined);
    });
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (!this.transport) throw new Error('not started');
    await this.transport.send(message as JSONRPCMessage);
  }

  setProtocolVersion(): void {}

  async listen(): Promise<void> {}

  get pid(): number | null {
    return this.transport?.pid ?? null;
  }

  async close(): Promise<void> {
    this.closing = true;
    // The SDK closes stdin, then escalates to SIGTERM and SIGKILL (MCP stdio shutdown sequence).
    await this.transport?.close();
  }
}
