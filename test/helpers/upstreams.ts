/** Fixture upstreams: the HTTP fixture as a process (READY <port>), STDIO fixture config entries, and a direct client for count_calls. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { HTTP_FIXTURE, ROOT, STDIO_FIXTURE } from './paths.js';
import { spawnManaged, stopManaged, waitForStdout, type Managed } from './process.js';

export interface HttpUpstream {
  url: string;
  port: number;
  process: Managed;
  stop(): Promise<void>;
}

export async function startHttpUpstream(opts: { record?: string; json?: boolean; tools?: number } = {}): Promise<HttpUpstream> {
  const args = [HTTP_FIXTURE, '--port', '0'];
  if (opts.record) args.push('--record', opts.record);
  if (opts.json === false) args.push('--no-json');
  if (opts.tools) args.push('--tools', String(opts.tools));
  const proc = spawnManaged(process.execPath, args, { cwd: ROOT });
  const m = await waitForStdout(proc, /^READY (\d+)$/m, 15_000);
  const port = Number(m[1]);
  return { url: `http://127.0.0.1:${port}/mcp`, port, process: proc, stop: () => stopManaged(proc) };
}

/** A `servers[]` entry for an HTTP upstream. */
export function httpServer(id: string, url: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, url, labels, ...extra };
}

/** A `servers[]` entry for the STDIO fixture; `record` sets RECORD_FILE (its first line is {env, argv}). */
export function stdioServer(id: string, opts: { record?: string; labels?: Record<string, string>; args?: string[]; restart?: Record<string, number>; env?: Record<string, string> } = {}): Record<string, unknown> {
  const env: Record<string, string> = { ...(opts.env ?? {}) };
  if (opts.record) env.RECORD_FILE = opts.record;
  const s: Record<string, unknown> = { id, command: process.execPath, args: [STDIO_FIXTURE, ...(opts.args ?? [])], env, labels: opts.labels ?? {} };
  if (opts.restart) s.restart = opts.restart;
  return s;
}

/**
 * A client straight to the HTTP fixture, bypassing the gateway: count_calls is process-wide, so this reads how many
 * tools/call messages the upstream received from anyone (the gateway included), and the gateway's policy is not involved.
 */
export async function directClient(url: string): Promise<{ client: Client; countCalls(): Promise<number>; close(): Promise<void> }> {
  const client = new Client({ name: 'it-direct', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return {
    client,
    async countCalls() {
      const r = await client.callTool({ name: 'count_calls', arguments: {} });
      const c = (r.content as Array<{ type: string; text: string }>)[0]!;
      return Number(c.text);
    },
    close: () => client.close(),
  };
}
