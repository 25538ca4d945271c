/** Upstream (stage 8): one supervised MCP session per configured server, over Streamable HTTP or STDIO. */
export { Upstream, type UpstreamAnswer, type UpstreamState, type RequestOptions } from './upstream.js';
