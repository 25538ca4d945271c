// Example stdio upstream for Portcullis: a file service confined to one directory (env ROOT), with read-only and destructive tools for policies to tell apart.
import { mkdtempSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, realpath, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import * as z from 'zod/v4';

// stdout belongs to the JSON-RPC stream; anything else there would corrupt it for the gateway.
const log = (msg) => process.stderr.write(`files-server: ${msg}\n`);

const MAX_READ_BYTES = 1024 * 1024;

function prepareRoot() {
  if (process.env.ROOT) {
    mkdirSync(process.env.ROOT, { recursive: true });
    return { root: realpathSync(process.env.ROOT), temporary: false };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'portcullis-files-'));
  writeFileSync(path.join(dir, 'hello.txt'), 'Hello from the Portcullis files example.\n');
  mkdirSync(path.join(dir, 'docs'));
  writeFileSync(
    path.join(dir, 'docs', 'contacts.csv'),
    'name,email,card\ncarol,carol@example.com,4111 1111 1111 1111\n',
  );
  return { root: realpathSync(dir), temporary: true };
}
const { root: ROOT, temporary } = prepareRoot();
// A seeded temp root is throwaway demo state; removing it keeps repeated test runs from littering /tmp.
if (temporary) process.on('exit', () => rmSync(ROOT, { recursive: true, force: true }));

class OutsideRootError extends Error {}

const isInside = (p) => {
  const rel = path.relative(ROOT, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
};

// Lexical checks alone are not enough: a symlink inside ROOT could point anywhere, so the deepest
// existing ancestor is resolved with realpath and checked as well.
async function resolveInRoot(userPath) {
  if (typeof userPath !== 'string' || userPath.includes('\0')) throw new OutsideRootError('invalid path');
  const target = path.resolve(ROOT, userPath);
  if (!isInside(target)) throw new OutsideRootError(`path escapes the sandbox root: ${userPath}`);
  let probe = target;
  for (;;) {
    try {
      const real = await realpath(probe);
      if (!isInside(real)) throw new OutsideRootError(`path escapes the sandbox root via a link: ${userPath}`);
      break;
    } catch (err) {
      if (err instanceof OutsideRootError || err.code !== 'ENOENT') throw err;
      probe = path.dirname(probe);
    }
  }
  return target;
}

const text = (t) => ({ type: 'text', text: t });
const fail = (t) => ({ content: [text(t)], isError: true });
const shown = (abs) => path.relative(ROOT, abs) || '.';

// Turns expected failures (escapes, missing files) into tool errors the model can read,
// instead of letting them surface as opaque exceptions.
const guarded = (fn) => async (args) => {
  try {
    return await fn(args);
  } catch (err) {
    if (err instanceof OutsideRootError) return fail(err.message);
    if (err?.code) return fail(`${err.code}: ${shown(err.path ?? '')}`);
    throw err;
  }
};

const server = new McpServer({ name: 'files-server', version: '1.0.0' });

server.registerTool(
  'list_files',
  {
    description: 'List a directory inside the sandbox (default: the root). Directories end with "/".',
    inputSchema: { path: z.string().optional() },
    annotations: { readOnlyHint: true },
  },
  guarded(async ({ path: p }) => {
    const dir = await resolveInRoot(p ?? '.');
    const entries = await readdir(dir, { withFileTypes: true });
    const lines = entries
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    return { content: [text(lines.length ? lines.join('\n') : '(empty)')] };
  }),
);

server.registerTool(
  'read_file',
  {
    description: 'Read a UTF-8 text file inside the sandbox.',
    inputSchema: { path: z.string() },
    annotations: { readOnlyHint: true },
  },
  guarded(async ({ path: p }) => {
    const file = await resolveInRoot(p);
    const info = await stat(file);
    if (!info.isFile()) return fail(`not a file: ${shown(file)}`);
    if (info.size > MAX_READ_BYTES) return fail(`file too large (${info.size} bytes, limit ${MAX_READ_BYTES})`);
    return { content: [text(await readFile(file, 'utf8'))] };
  }),
);

server.registerTool(
  'write_file',
  {
    description: 'Create or overwrite a text file inside the sandbox, creating parent directories as needed.',
    inputSchema: { path: z.string(), content: z.string() },
    annotations: { destructiveHint: false },
  },
  guarded(async ({ path: p, content }) => {
    const file = await resolveInRoot(p);
    if (file === ROOT) return fail('cannot write to the sandbox root itself');
    // A dangling link passes the realpath check (nothing to resolve) yet writeFile would follow it out of ROOT.
    const existing = await lstat(file).catch(() => null);
    if (existing?.isSymbolicLink()) return fail(`refusing to write through a symbolic link: ${shown(file)}`);
    await mkdir(path.dirname(file), { recursive: true });
    // Re-check after mkdir: a concurrently created link in the parent chain must not redirect the write.
    await resolveInRoot(p);
    await writeFile(file, content, 'utf8');
    return { content: [text(`wrote ${Buffer.byteLength(content)} bytes to ${shown(file)}`)] };
  }),
);

server.registerTool(
  'delete_file',
  {
    description: 'Delete a single file inside the sandbox (directories are refused).',
    inputSchema: { path: z.string() },
    annotations: { destructiveHint: true },
  },
  guarded(async ({ path: p }) => {
    const file = await resolveInRoot(p);
    // lstat so deleting a symlink removes the link, never its target.
    const info = await lstat(file);
    if (info.isDirectory()) return fail(`refusing to delete a directory: ${shown(file)}`);
    await unlink(file);
    return { content: [text(`deleted ${shown(file)}`)] };
  }),
);

await server.connect(new StdioServerTransport());
// A closed stdin means the client is gone; exit so the 'exit' hook can clean up a temp root.
process.stdin.on('end', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
log(`serving ${ROOT}${temporary ? ' (temporary, seeded)' : ''}`);
