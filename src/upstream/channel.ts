/** A Channel carries JSON-RPC messages to one upstream and hands back whatever it sends: HTTP or STDIO. */
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcMessage } from '../protocol/json-rpc.js';
import { HttpTransport, type PostOptions } from './http-transport.js';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../telemetry/logger.js';

export interface Channel {
  readonly kind: 'http' | 'stdio';
  /** Connects; `onMessage` gets every message from the upstream, `onClose` fires once if the link dies. */
  start(onMessage: (m: JsonRpcMessage) => void, onClose: (reason: string) => void): Promise<void>;
  /** Resolves when the message (and, over HTTP, its whole answer) has been handled. */
  send(message: JsonRpcMessage, opts?: PostOptions): Promise<void>;
  setProtocolVersion(v: string): void;
  /** Polite end: DELETE the HTTP session, or close stdin and stop the child. */
  close(): Promise<void>;
}

export class HttpChannel implements Channel {
  readonly kind = 'http' as const;
  readonly transport: HttpTransport;
  private onMessage: (m: JsonRpcMessage) => void = () => undefined;
  private listenAbort: AbortController | undefined;

  constructor(
    cfg: ServerConfig,
    private readonly log: Logger,
  ) {
    this.transport = new HttpTransport(new URL(cfg.url!), cfg.headers ?? {});
  }

  async start(onMessage: (m: JsonRpcMessage) => void): Promise<void> {
    this.onMessage = onMessage;
    this.transport.sessionId = undefined;
  }

  send(message: JsonRpcMessage, opts?: PostOptions): Promise<void> {
    return this.transport.post(message, this.onMessage, opts);
  }

  setProtocolVersion(v: string): void {
    this.transport.protocolVersion = v;
  }

  /** Keeps a GET stream open for upstream-initiated notifications (list_changed), reconnecting while running. */
  listen(): void {
    this.listenAbort?.abort();
    const ac = new AbortController();
    this.listenAbort = ac;
    const loop = async () => {
      let delay = 500;
      while (!ac.signal.aborted) {
        try {
          await this.transport.listen(this.onMessage, ac.signal);
          delay = 500;
        } catch (err) {
          if (ac.signal.aborted) return;
          const status = (err as { status?: number }).status;
          if (status === 405) return; // the upstream offers no stream; that is allowed
          this.log.debug('upstream notification stream interrupted', { error: (err as Error).message });
        }
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 10_000);
      }
    };
    void loop();
  }

  async close(): Promise<void> {
    this.listenAbort?.abort();
    await this.transport.terminate();
    await this.transport.close();
  }
}

export class StdioChannel implements Channel {
  readonly kind = 'stdio' as const;
  private transport: StdioClientTransport | undefined;
  private closing = false;

  constructor(
    private readonly cfg: ServerConfig,
    private readonly log: Logger,
    private readonly extraEnv: () => Record<string, string> = () => ({}),
  ) {}

  async start(onMessage: (m: JsonRpcMessage) => void, onClose: (reason: string) => void): Promise<void> {
    this.closing = false;
    // The SDK builds the child's environment from a small safe default set plus what we pass: the gateway's own
    // environment (and so its secrets) is not inherited.
    const t = new StdioClientTransport({
      command: this.cfg.command!,
      args: this.cfg.args,
      env: { ...(this.cfg.env ?? {}), ...this.extraEnv() },
      cwd: this.cfg.cwd,
      stderr: 'pipe',
    });
    this.transport = t;
    let closed = false;
    t.onmessage = (m: JSONRPCMessage) => onMessage(m as JsonRpcMessage);
    t.onerror = (err: Error) => this.log.warn('stdio upstream error', { server: this.cfg.id, error: err.message });
    t.onclose = () => {
      if (closed) return;
      closed = true;
      onClose(this.closing ? 'closed' : 'process exited');
    };
    const stderr = t.stderr;
    if (stderr) {
      stderr.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8').trimEnd();
        if (text) this.log.debug('stdio upstream stderr', { server: this.cfg.id, text: text.slice(0, 2000) });
      });
    }
    await t.start();
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (!this.transport) throw new Error('not started');
    await this.transport.send(message as JSONRPCMessage);
  }

  setProtocolVersion(): void {}

  get pid(): number | null {
    return this.transport?.pid ?? null;
  }

  async close(): Promise<void> {
    this.closing = true;
    // The SDK closes stdin, then escalates to SIGTERM and SIGKILL (MCP stdio shutdown sequence).
    await this.transport?.close();
  }
}
