#!/usr/bin/env node
// The conformance fixture: an MCP server over Streamable HTTP (stateful sessions) that implements every tool,
// resource, prompt and utility the server scenarios of @modelcontextprotocol/conformance call for. It is the
// upstream that test/conformance/run.mjs points the suite at, directly or through the Portcullis gateway.
// It also has the diagnostic tools and prompt of the 2026-07-28 requirement set (suite 0.2.0-alpha.12), written
// as a 2025 server would (server-to-client requests during the call), for a gateway that serves 2026-07-28
// clients to translate: see "Diagnostic tools of the 2026-07-28 requirement set" below.
//
//   node test/conformance/fixture-server.mjs [--port 0] [--host 127.0.0.1] [--json-response]
//
// --json-response answers each POST with one JSON body instead of an SSE stream (enableJsonResponse): no
// notifications or server-to-client requests can ride on a call then, so the scenarios that need them fail; it
// exists to test a gateway against upstreams of that kind. Prints "READY <port>" on stdout once it listens on http://<host>:<port>/mcp. Logs go to stderr.
// Built on the low-level Server of @modelcontextprotocol/sdk so that what goes on the wire (tool schemas
// especially) is exactly what is written here; tool arguments are checked with zod/v4.
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListRootsResultSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod/v4';

// ---------------------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', jsonResponse: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = argv[++i];
    else if (a === '--json-response') opts.jsonResponse = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: fixture-server.mjs [--port N] [--host ADDR] [--json-response]\n');
      process.exit(0);
    } else {
      process.stderr.write(`fixture-server: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('fixture-server: --port must be an integer 0..65535\n');
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const log = (msg) => process.stderr.write(`[fixture] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------------
// Content used by several tools, resources and prompts

/** A 1x1 red PNG. */
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** A valid WAV file: 8 kHz, 16-bit mono, 4 samples of silence (RIFF header built, not pasted). */
function makeWav() {
  const samples = 4;
  const dataBytes = samples * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // channels
  b.writeUInt32LE(8000, 24); // sample rate
  b.writeUInt32LE(8000 * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataBytes, 40);
  return b.toString('base64');
}
const WAV_SILENCE = makeWav();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// Tools. Each has a zod/v4 schema for its arguments; the advertised inputSchema is derived from it, except for
// json_schema_2020_12_tool whose schema is the point of the scenario and is written out by hand.

const NoArgs = z.object({});

function inputSchemaOf(schema) {
  const js = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' });
  delete js.$schema; // keep the plain tools lean; json_schema_2020_12_tool carries an explicit $schema
  return js;
}

const JSON_SCHEMA_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/** @type {Array<{name: string, description: string, args: z.ZodType, inputSchema?: object, run: Function}>} */
const TOOLS = [
  {
    name: 'test_simple_text',
    description: 'Returns one text content item',
    args: NoArgs,
    run: async () => ({ content: [{ type: 'text', text: 'This is a simple text response for testing.' }] }),
  },
  {
    name: 'test_image_content',
    description: 'Returns one image content item (1x1 PNG)',
    args: NoArgs,
    run: async () => ({ content: [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }] }),
  },
  {
    name: 'test_audio_content',
    description: 'Returns one audio content item (short WAV)',
    args: NoArgs,
    run: async () => ({ content: [{ type: 'audio', data: WAV_SILENCE, mimeType: 'audio/wav' }] }),
  },
  {
    name: 'test_embedded_resource',
    description: 'Returns one embedded text resource',
    args: NoArgs,
    run: async () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'test://embedded-resource',
            mimeType: 'text/plain',
            text: 'This is an embedded resource content.',
          },
        },
      ],
    }),
  },
  {
    name: 'test_multiple_content_types',
    description: 'Returns text, image and embedded resource content together',
    args: NoArgs,
    run: async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  },
  {
    name: 'test_tool_with_logging',
    description: 'Sends three info log notifications while it runs',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const steps = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
      for (let i = 0; i < steps.length; i++) {
        if (i > 0) await sleep(50);
        await ctx.log(extra, 'info', steps[i]);
      }
      return { content: [{ type: 'text', text: 'Tool with logging executed successfully' }] };
    },
  },
  {
    name: 'test_tool_with_progress',
    description: 'Reports progress 0, 50 and 100 of 100 when the request carries a progress token',
    args: NoArgs,
    run: async (_args, extra) => {
      const token = extra._meta?.progressToken;
      for (const [i, progress] of [0, 50, 100].entries()) {
        if (i > 0) await sleep(50);
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100, message: `Step ${i + 1} of 3` },
          });
        }
      }
      return { content: [{ type: 'text', text: `Progress tool finished (token ${JSON.stringify(token ?? null)})` }] };
    },
  },
  {
    name: 'test_error_handling',
    description: 'Always fails with a tool execution error (isError: true)',
    args: NoArgs,
    run: async () => ({
      isError: true,
      content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
    }),
  },
  {
    name: 'test_sampling',
    description: 'Asks the client for an LLM completion (sampling/createMessage) and returns it',
    args: z.object({ prompt: z.string().describe('The prompt to send to the LLM') }),
    run: async ({ prompt }, extra, ctx) => {
      if (!ctx.clientCapabilities()?.sampling) {
        return toolError('The client did not declare the sampling capability');
      }
      // Like the official conformance example server: server.request() with no related request id, so the SDK
      // sends it on the session's standalone GET stream, not on this call's answer stream. A relay must still
      // deliver it to the client whose call is waiting.
      const result = await ctx.requestUnrelated(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const text = result.content?.type === 'text' ? result.content.text : JSON.stringify(result.content);
      return { content: [{ type: 'text', text: `LLM response: ${text}` }] };
    },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the user for a username and an email (elicitation/create) and returns the answer',
    args: z.object({ message: z.string().describe('The message to show the user') }),
    run: async ({ message }, extra, ctx) =>
      elicit(extra, ctx, 'User response', {
        message,
        requestedSchema: {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        },
      }),
  },
  {
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicitation whose schema gives a default for every primitive type (SEP-1034)',
    args: NoArgs,
    run: async (_args, extra, ctx) =>
      elicit(extra, ctx, 'Elicitation completed', {
        message: 'Please review the fields; each has a default',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: {
              type: 'string',
              description: 'Account status',
              enum: ['active', 'inactive', 'pending'],
              default: 'active',
            },
            verified: { type: 'boolean', description: 'Verified account', default: true },
          },
        },
      }),
  },
  {
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicitation whose schema has all five enum forms (SEP-1330)',
    args: NoArgs,
    run: async (_args, extra, ctx) =>
      elicit(extra, ctx, 'Elicitation completed', {
        message: 'Please pick from the lists',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              description: 'Titled single-select',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              description: 'Legacy titled enum (enumNames)',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              description: 'Untitled multi-select',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              description: 'Titled multi-select',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        },
      }),
  },
  {
    name: 'test_reconnection',
    description: 'Closes its SSE stream mid-call so the client must resume with Last-Event-ID (SEP-1699)',
    args: NoArgs,
    run: async (_args, extra) => {
      // Only offered by the transport when the stream is resumable (event store on, protocol >= 2025-11-25).
      if (extra.closeSSEStream) extra.closeSSEStream();
      await sleep(200);
      return { content: [{ type: 'text', text: 'Reconnection test completed successfully' }] };
    },
  },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    args: z
      .object({
        name: z.string().optional(),
        address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
      })
      .strict(),
    inputSchema: {
      $schema: JSON_SCHEMA_2020_12,
      type: 'object',
      $defs: {
        address: {
          type: 'object',
          properties: { street: { type: 'string' }, city: { type: 'string' } },
        },
      },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
      },
      additionalProperties: false,
    },
    run: async (args) => ({ content: [{ type: 'text', text: `Received: ${JSON.stringify(args)}` }] }),
  },
];
// ---------------------------------------------------------------------------------------------------------
// Diagnostic tools of the 2026-07-28 requirement set (@modelcontextprotocol/conformance 0.2.0-alpha.12,
// `--requirements 2026-07-28`): the input-required-result-* scenarios (SEP-2322, MRTR) and the diagnostic hooks
// of server-stateless (SEP-2575). The fixture stays a 2025 server: where the suite expects an InputRequiredResult,
// the tool sends the server-to-client request(s) in 2025 style, on the stream of the call being served, and
// returns the final result once answered. A gateway that serves 2026-07-28 clients turns those requests into the
// `input_required` result and answers them with the client's `inputResponses` on the retry. Several requests sent
// together (Promise.all) make one round with several inputRequests; requests sent one after the other make one
// round each.

/** MissingRequiredClientCapabilityError (2026-07-28): a request needs a capability the client did not declare. */
const MISSING_CLIENT_CAPABILITY = -32021;

/**
 * The key the suite expects for this request in `inputRequests` (e.g. `user_name`), carried in the request's
 * `_meta` as a hint: a 2025 request has no key of its own, and a translating gateway may use it as the key.
 */
const INPUT_KEY_META = 'io.portcullis/inputKey';

/** How long a request to the client may wait: a translating gateway holds it until the client's retry. */
const CLIENT_ANSWER_TIMEOUT_MS = 120_000;

const CLIENT_METHODS = {
  'elicitation/create': { capability: 'elicitation', schema: ElicitResultSchema },
  'sampling/createMessage': { capability: 'sampling', schema: CreateMessageResultSchema },
  'roots/list': { capability: 'roots', schema: ListRootsResultSchema },
};

function missingCapability(capability, method) {
  return new McpError(
    MISSING_CLIENT_CAPABILITY,
    `${method} needs the ${capability} capability, which the client did not declare`,
    { requiredCapabilities: { [capability]: {} } },
  );
}

/**
 * Sends `method` to the client on the stream of the request being served and returns the validated answer.
 * A capability the client did not declare, or a -32021 answer (how a gateway refuses on behalf of a client
 * that did not declare it), fails the call with -32021 naming the capability; an answer that does not fit the
 * method's result schema fails it with -32602, so a bad answer never yields a complete result.
 */
async function askClient(extra, ctx, key, method, params) {
  const { capability, schema } = CLIENT_METHODS[method];
  if (!ctx.clientCapabilities()?.[capability]) throw missingCapability(capability, method);
  try {
    return await extra.sendRequest(
      { method, params: { ...params, _meta: { [INPUT_KEY_META]: key } } },
      schema,
      { signal: extra.signal, timeout: CLIENT_ANSWER_TIMEOUT_MS },
    );
  } catch (err) {
    if (err?.code === MISSING_CLIENT_CAPABILITY) throw missingCapability(capability, method);
    if (err instanceof McpError) throw err;
    // The SDK rejects with the schema's validation error when the answer does not fit.
    throw new McpError(ErrorCode.InvalidParams, `The client's answer to ${method} (${key}) is invalid: ${err?.message ?? err}`);
  }
}

const textResult = (t) => ({ content: [{ type: 'text', text: t }] });

function objectSchema(field, type) {
  return { type: 'object', properties: { [field]: { type } }, required: [field] };
}

/** The accepted value of `field` of an elicitation answer; -32602 when an accepted answer lacks it. */
function acceptedField(answer, field, type, key) {
  if (answer.action !== 'accept') return undefined;
  const value = answer.content?.[field];
  if (typeof value !== type) {
    throw new McpError(ErrorCode.InvalidParams, `The elicitation answer ${key} was accepted without a ${type} '${field}'`);
  }
  return value;
}

const samplingText = (r) => (r.content?.type === 'text' ? r.content.text : JSON.stringify(r.content));
const rootsText = (r) =>
  r.roots.length === 0 ? 'no roots' : r.roots.map((x) => (x.name ? `${x.uri} (${x.name})` : x.uri)).join(', ');

const ELICIT_NAME = { message: 'What is your name?', requestedSchema: objectSchema('name', 'string') };
const ELICIT_CONFIRM = { message: 'Please confirm', requestedSchema: objectSchema('ok', 'boolean') };

const MRTR_TOOLS = [
  {
    name: 'test_input_required_result_elicitation',
    description: 'Asks the user for a name (elicitation/create, key user_name) and greets them',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'user_name', 'elicitation/create', ELICIT_NAME);
      const name = acceptedField(answer, 'name', 'string', 'user_name');
      return textResult(name === undefined ? `No name given (action=${answer.action})` : `Hello, ${name}!`);
    },
  },
  {
    name: 'test_input_required_result_sampling',
    description: 'Asks the client for a completion (sampling/createMessage, key capital_question) and returns it',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'capital_question', 'sampling/createMessage', {
        messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
        maxTokens: 100,
      });
      return textResult(`LLM response: ${samplingText(answer)}`);
    },
  },
  {
    name: 'test_input_required_result_list_roots',
    description: "Asks the client for its roots (roots/list, key client_roots) and lists them",
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'client_roots', 'roots/list', {});
      return textResult(`Client roots: ${rootsText(answer)}`);
    },
  },
  {
    name: 'test_input_required_result_request_state',
    description: 'Asks the user to confirm (elicitation/create, key confirm); the answer says state-ok',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      // The state of a 2025 call is the call itself, still running: reaching here means the answer came back to
      // the call that asked, which is what the scenario's "state-ok" confirms.
      const answer = await askClient(extra, ctx, 'confirm', 'elicitation/create', ELICIT_CONFIRM);
      const ok = acceptedField(answer, 'ok', 'boolean', 'confirm');
      return textResult(`state-ok: action=${answer.action}, ok=${ok}`);
    },
  },
  {
    name: 'test_input_required_result_multiple_inputs',
    description: 'Sends elicitation/create (user_name), sampling/createMessage (greeting) and roots/list (client_roots) at once',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      // Sent together, all three wait at once: one round with three inputRequests.
      const [name, greeting, roots] = await Promise.all([
        askClient(extra, ctx, 'user_name', 'elicitation/create', ELICIT_NAME),
        askClient(extra, ctx, 'greeting', 'sampling/createMessage', {
          messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
          maxTokens: 50,
        }),
        askClient(extra, ctx, 'client_roots', 'roots/list', {}),
      ]);
      const who = acceptedField(name, 'name', 'string', 'user_name');
      return textResult(`name=${who ?? `(${name.action})`}; greeting=${samplingText(greeting)}; roots=${rootsText(roots)}`);
    },
  },
  {
    name: 'test_input_required_result_multi_round',
    description: 'Asks for a name (step1), then, once answered, for a favourite colour (step2)',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      // One after the other: the second request exists only once the first is answered, so two rounds.
      const step1 = await askClient(extra, ctx, 'step1', 'elicitation/create', {
        message: 'Step 1: What is your name?',
        requestedSchema: objectSchema('name', 'string'),
      });
      const name = acceptedField(step1, 'name', 'string', 'step1');
      const step2 = await askClient(extra, ctx, 'step2', 'elicitation/create', {
        message: 'Step 2: What is your favorite color?',
        requestedSchema: objectSchema('color', 'string'),
      });
      const color = acceptedField(step2, 'color', 'string', 'step2');
      return textResult(`${name ?? `(${step1.action})`}'s favorite color is ${color ?? `(${step2.action})`}`);
    },
  },
  {
    name: 'test_input_required_result_tampered_state',
    description: 'Asks the user to confirm (elicitation/create, key confirm); the gateway must refuse a tampered requestState',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'confirm', 'elicitation/create', ELICIT_CONFIRM);
      const ok = acceptedField(answer, 'ok', 'boolean', 'confirm');
      return textResult(`Confirmed: action=${answer.action}, ok=${ok}`);
    },
  },
  {
    name: 'test_input_required_result_capabilities',
    description: 'Asks for sampling and elicitation, each only when the client declared it (a -32021 answer skips it)',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const caps = ctx.clientCapabilities() ?? {};
      const asks = [];
      if (caps.sampling) {
        asks.push(['sampling', askClient(extra, ctx, 'capability_sampling', 'sampling/createMessage', {
          messages: [{ role: 'user', content: { type: 'text', text: 'Say hello' } }],
          maxTokens: 20,
        })]);
      }
      if (caps.elicitation) {
        asks.push(['elicitation', askClient(extra, ctx, 'capability_elicitation', 'elicitation/create', ELICIT_NAME)]);
      }
      if (asks.length === 0) throw missingCapability('sampling', 'test_input_required_result_capabilities');
      const settled = await Promise.allSettled(asks.map(([, p]) => p));
      const parts = [];
      for (const [i, s] of settled.entries()) {
        const capability = asks[i][0];
        if (s.status === 'fulfilled') parts.push(`${capability}=answered`);
        else if (s.reason?.code === MISSING_CLIENT_CAPABILITY) parts.push(`${capability}=not declared`);
        else throw s.reason;
      }
      return textResult(`Capabilities used: ${parts.join(', ')}`);
    },
  },
  {
    name: 'test_missing_capability',
    description: 'Needs sampling: fails with -32021 (requiredCapabilities.sampling) for a client that did not declare it',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'missing_capability', 'sampling/createMessage', {
        messages: [{ role: 'user', content: { type: 'text', text: 'This needs the sampling capability' } }],
        maxTokens: 20,
      });
      return textResult(`LLM response: ${samplingText(answer)}`);
    },
  },
  {
    name: 'test_streaming_elicitation',
    description: 'Asks the user to confirm (elicitation/create, key streaming_confirm) on the call stream',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'streaming_confirm', 'elicitation/create', ELICIT_CONFIRM);
      const ok = acceptedField(answer, 'ok', 'boolean', 'streaming_confirm');
      return textResult(`Streaming elicitation answered: action=${answer.action}, ok=${ok}`);
    },
  },
  {
    name: 'test_logging_tool',
    description: 'Sends three notifications/message logs on its stream, then answers',
    args: NoArgs,
    run: async (_args, extra, ctx) => {
      // No pauses: the scenario reads the stream for only 500 ms, and a gateway must drop these logs for a
      // 2026-07-28 client that did not ask for a log level.
      for (const step of ['Logging tool started', 'Logging tool working', 'Logging tool done']) {
        await ctx.log(extra, 'info', step);
      }
      return textResult('Logging tool finished');
    },
  },
  {
    name: 'test_trigger_tool_change',
    description: 'Adds or removes the tool test_dynamic_tool and sends notifications/tools/list_changed to every session',
    args: NoArgs,
    run: async () => {
      dynamic.tool = !dynamic.tool;
      await notifyAllSessions((server) => server.sendToolListChanged());
      return textResult(`test_dynamic_tool is now ${dynamic.tool ? 'listed' : 'gone'}`);
    },
  },
  {
    name: 'test_trigger_prompt_change',
    description: 'Adds or removes the prompt test_dynamic_prompt and sends notifications/prompts/list_changed to every session',
    args: NoArgs,
    run: async () => {
      dynamic.prompt = !dynamic.prompt;
      await notifyAllSessions((server) => server.sendPromptListChanged());
      return textResult(`test_dynamic_prompt is now ${dynamic.prompt ? 'listed' : 'gone'}`);
    },
  },
];
TOOLS.push(...MRTR_TOOLS);

/** The tool and prompt that test_trigger_tool_change / test_trigger_prompt_change add and remove. */
const dynamic = { tool: false, prompt: false };
const DYNAMIC_TOOL = {
  name: 'test_dynamic_tool',
  description: 'Listed only while test_trigger_tool_change has toggled it on',
  args: NoArgs,
  run: async () => textResult('Dynamic tool called'),
};

/** The list is the same for every session, so a change is announced to all of them. */
async function notifyAllSessions(send) {
  await Promise.all(
    [...sessions.values()].map(({ server }) =>
      send(server).catch((err) => log(`list_changed not sent: ${err?.message ?? err}`)),
    ),
  );
}

function findTool(name) {
  if (name === DYNAMIC_TOOL.name) return dynamic.tool ? DYNAMIC_TOOL : undefined;
  return TOOL_BY_NAME.get(name);
}

const listedTools = () => (dynamic.tool ? [...TOOLS, DYNAMIC_TOOL] : TOOLS);

const TOOL_BY_NAME = new Map(TOOLS.map((t) => [t.name, t]));

function toolError(text) {
  return { isError: true, content: [{ type: 'text', text }] };
}

async function elicit(extra, ctx, label, params) {
  if (!ctx.clientCapabilities()?.elicitation) {
    return toolError('The client did not declare the elicitation capability');
  }
  // Unrelated, as the official example server sends it (see test_sampling).
  const result = await ctx.requestUnrelated({ method: 'elicitation/create', params }, ElicitResultSchema);
  return {
    content: [
      { type: 'text', text: `${label}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}` },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Resources and prompts

const RESOURCES = [
  {
    uri: 'test://static-text',
    name: 'static-text',
    description: 'A static text resource',
    mimeType: 'text/plain',
    read: (uri) => ({ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }),
  },
  {
    uri: 'test://static-binary',
    name: 'static-binary',
    description: 'A static binary resource (1x1 PNG)',
    mimeType: 'image/png',
    read: (uri) => ({ uri, mimeType: 'image/png', blob: PNG_1X1 }),
  },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    description: 'A resource that can be subscribed to',
    mimeType: 'text/plain',
    read: (uri) => ({ uri, mimeType: 'text/plain', text: 'Watched resource content' }),
  },
];
const RESOURCE_BY_URI = new Map(RESOURCES.map((r) => [r.uri, r]));

const TEMPLATE = {
  uriTemplate: 'test://template/{id}/data',
  name: 'template-data',
  description: 'Data for an id, substituted into the URI',
  mimeType: 'application/json',
};
const TEMPLATE_RE = /^test:\/\/template\/([^/]+)\/data$/;
const TEMPLATE_IDS = ['1', '2', '3', '42', '123'];

const PROMPTS = [
  {
    name: 'test_simple_prompt',
    description: 'A prompt without arguments',
    arguments: [],
    get: () => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
    }),
  },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
    get: (a) => ({
      messages: [
        { role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'` } },
      ],
    }),
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds the resource named by its argument',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    get: (a) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: a.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  },
  {
    name: 'test_prompt_with_image',
    description: 'A prompt that carries an image',
    arguments: [],
    get: () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
      ],
    }),
  },
  {
    name: 'test_input_required_result_prompt',
    description: 'Asks the user for context (elicitation/create, key user_context) and builds the prompt from it',
    arguments: [],
    get: async (_args, extra, ctx) => {
      const answer = await askClient(extra, ctx, 'user_context', 'elicitation/create', {
        message: 'What context should the prompt use?',
        requestedSchema: objectSchema('context', 'string'),
      });
      const context = acceptedField(answer, 'context', 'string', 'user_context');
      return {
        messages: [
          {
            role: 'user',
            content: { type: 'text', text: context === undefined ? `No context given (action=${answer.action})` : `Use this context: ${context}` },
          },
        ],
      };
    },
  },
];
const PROMPT_BY_NAME = new Map(PROMPTS.map((p) => [p.name, p]));

const DYNAMIC_PROMPT = {
  name: 'test_dynamic_prompt',
  description: 'Listed only while test_trigger_prompt_change has toggled it on',
  arguments: [],
  get: () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'Dynamic prompt' } }] }),
};

function findPrompt(name) {
  if (name === DYNAMIC_PROMPT.name) return dynamic.prompt ? DYNAMIC_PROMPT : undefined;
  return PROMPT_BY_NAME.get(name);
}

const listedPrompts = () => (dynamic.prompt ? [...PROMPTS, DYNAMIC_PROMPT] : PROMPTS);

/** Completion candidates, by prompt argument. */
const PROMPT_COMPLETIONS = {
  test_prompt_with_arguments: {
    arg1: ['paris', 'park', 'party', 'test', 'testValue1', 'testing'],
    arg2: ['testValue2', 'tomorrow', 'today'],
  },
  test_prompt_with_embedded_resource: { resourceUri: RESOURCES.map((r) => r.uri) },
};

function complete(candidates, prefix) {
  const values = candidates.filter((v) => v.startsWith(prefix ?? '')).slice(0, 100);
  return { completion: { values, total: values.length, hasMore: false } };
}

// ---------------------------------------------------------------------------------------------------------
// One Server per session

/** Per-session subscriptions, for inspection and a readable log. */
const subscriptions = new Map();

function createServer(getSessionId) {
  const server = new Server(
    { name: 'portcullis-conformance-fixture', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
      instructions: 'Conformance fixture for the Portcullis gateway.',
    },
  );

  const ctx = {
    clientCapabilities: () => server.getClientCapabilities(),
    requestUnrelated: (request, schema) => server.request(request, schema),
    /** Log on the stream of the request being served, honouring logging/setLevel for the session. */
    log: async (extra, level, data) => {
      if (server.isMessageIgnored(level, extra.sessionId)) return;
      await extra.sendNotification({
        method: 'notifications/message',
        params: { level, logger: 'conformance-fixture', data },
      });
    },
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: listedTools().map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema ?? inputSchemaOf(t.args),
    })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = findTool(request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    const parsed = tool.args.safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      return toolError(`Invalid arguments for ${tool.name}: ${z.prettifyError(parsed.error)}`);
    }
    return tool.run(parsed.data, extra, ctx);
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: RESOURCES.map(({ uri, name, description, mimeType }) => ({ uri, name, description, mimeType })),
  }));

  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: [TEMPLATE] }));

  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri } = request.params;
    const fixed = RESOURCE_BY_URI.get(uri);
    if (fixed) return { contents: [fixed.read(uri)] };
    const m = TEMPLATE_RE.exec(uri);
    if (m) {
      const id = decodeURIComponent(m[1]);
      return {
        contents: [
          {
            uri,
            mimeType: 'application/json',
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    }
    throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
  });

  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const sid = getSessionId();
    if (!subscriptions.has(sid)) subscriptions.set(sid, new Set());
    subscriptions.get(sid).add(request.params.uri);
    return {};
  });

  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.get(getSessionId())?.delete(request.params.uri);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({
    prompts: listedPrompts().map(({ name, description, arguments: args }) => ({ name, description, arguments: args })),
  }));

  server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
    const prompt = findPrompt(request.params.name);
    if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`);
    const args = request.params.arguments ?? {};
    const missing = prompt.arguments.filter((a) => a.required && typeof args[a.name] !== 'string').map((a) => a.name);
    if (missing.length > 0) {
      throw new McpError(ErrorCode.InvalidParams, `Missing required argument(s) for ${prompt.name}: ${missing.join(', ')}`);
    }
    return { description: prompt.description, ...(await prompt.get(args, extra, ctx)) };
  });

  server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { ref, argument } = request.params;
    if (ref.type === 'ref/prompt') {
      if (!PROMPT_BY_NAME.has(ref.name)) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
      return complete(PROMPT_COMPLETIONS[ref.name]?.[argument.name] ?? [], argument.value);
    }
    if (ref.type === 'ref/resource') {
      if (ref.uri !== TEMPLATE.uriTemplate) throw new McpError(ErrorCode.InvalidParams, `Unknown resource template: ${ref.uri}`);
      return complete(argument.name === 'id' ? TEMPLATE_IDS : [], argument.value);
    }
    throw new McpError(ErrorCode.InvalidParams, `Unsupported completion ref type: ${ref.type}`);
  });

  return server;
}

// ---------------------------------------------------------------------------------------------------------
// Resumability: an in-memory event store, so POST streams carry a priming event (id + retry) and a client that
// lost a stream can resume it with Last-Event-ID (SEP-1699).

function createEventStore() {
  const events = []; // { id, streamId, message }, in order
  let seq = 0;
  return {
    async storeEvent(streamId, message) {
      const id = `${streamId}_${String(++seq).padStart(8, '0')}`;
      events.push({ id, streamId, message });
      if (events.length > 5000) events.splice(0, events.length - 5000);
      return id;
    },
    async getStreamIdForEventId(eventId) {
      return events.find((e) => e.id === eventId)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const at = events.findIndex((e) => e.id === lastEventId);
      if (at < 0) throw new Error(`Unknown event id ${lastEventId}`);
      const { streamId } = events[at];
      for (const e of events.slice(at + 1)) {
        if (e.streamId !== streamId) continue;
        if (!e.message || Object.keys(e.message).length === 0) continue; // priming events carry no message
        await send(e.id, e.message);
      }
      return streamId;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP: POST/GET/DELETE /mcp, one transport and one Server per session

/** sessionId -> { transport, server } */
const sessions = new Map();

function jsonRpcError(res, status, code, message) {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

// createMcpExpressApp on a loopback host validates the Host header (DNS rebinding protection).
const app = createMcpExpressApp({ host: opts.host });

// Also refuse a browser Origin that is not loopback.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
app.use((req, res, next) => {
  const origin = req.headers.origin;
  if (origin) {
    let hostname = null;
    try {
      hostname = new URL(origin).hostname;
    } catch {
      /* unparsable */
    }
    if (!hostname || !LOOPBACK.has(hostname)) return jsonRpcError(res, 403, -32000, `Origin not allowed: ${origin}`);
  }
  next();
});

app.post('/mcp', async (req, res) => {
  const sid = req.headers['mcp-session-id'];
  try {
    if (typeof sid === 'string') {
      const s = sessions.get(sid);
      if (!s) return jsonRpcError(res, 404, -32001, 'Session not found');
      return await s.transport.handleRequest(req, res, req.body);
    }
    if (!isInitializeRequest(req.body)) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: no session id, and not an initialize request');
    }
    let sessionId;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: opts.jsonResponse,
      eventStore: opts.jsonResponse ? undefined : createEventStore(),
      retryInterval: opts.jsonResponse ? undefined : 500,
      onsessioninitialized: (id) => {
        sessionId = id;
        sessions.set(id, { transport, server });
        log(`session ${id} opened`);
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
        subscriptions.delete(id);
        log(`session ${id} closed by client`);
      },
    });
    transport.onclose = () => {
      if (sessionId) {
        sessions.delete(sessionId);
        subscriptions.delete(sessionId);
      }
    };
    const server = createServer(() => sessionId);
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (err) {
    log(`POST /mcp failed: ${err?.stack ?? err}`);
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
  }
});

async function withSession(req, res) {
  const sid = req.headers['mcp-session-id'];
  if (typeof sid !== 'string') return jsonRpcError(res, 400, -32000, 'Bad Request: missing Mcp-Session-Id');
  const s = sessions.get(sid);
  if (!s) return jsonRpcError(res, 404, -32001, 'Session not found');
  try {
    await s.transport.handleRequest(req, res);
  } catch (err) {
    log(`${req.method} /mcp failed: ${err?.stack ?? err}`);
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
  }
}
app.get('/mcp', withSession);
app.delete('/mcp', withSession);

const httpServer = app.listen(opts.port, opts.host, () => {
  const { port } = httpServer.address();
  log(`listening on http://${opts.host}:${port}/mcp${opts.jsonResponse ? ' (JSON responses)' : ''}`);
  process.stdout.write(`READY ${port}\n`);
});
httpServer.on('error', (err) => {
  process.stderr.write(`fixture-server: ${err.message}\n`);
  process.exit(1);
});

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: closing ${sessions.size} session(s)`);
  for (const { transport, server } of sessions.values()) {
    await transport.close().catch(() => {});
    await server.close().catch(() => {});
  }
  httpServer.closeAllConnections?.();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
