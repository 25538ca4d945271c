/** Upstream (stage 8): MCP sessions with the configured servers, over Streamable HTTP or supervised STDIO. */
export { Upstream, type UpstreamState } from './upstream.js';
export { McpSession, type UpstreamAnswer, type RequestOptions, type Relay } from './mcp-session.js';
export { HttpStatusError } from './http-transport.js';
export { ClientUpstreams } from './client-upstreams.js';
