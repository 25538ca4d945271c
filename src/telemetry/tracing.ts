/**
 * OpenTelemetry tracing: one SERVER span per MCP request, named and attributed after the MCP semantic conventions,
 * and one child span per pipeline stage; W3C trace context taken from the client (params._meta, else the HTTP
 * header) and handed on to the upstream (params._meta, and the HTTP header for HTTP upstreams). Exported over
 * OTLP/HTTP (JSON). With tracing off nothing here runs: the pipeline holds no RequestTrace and skips every call.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { Logger } from './logger.js';

/** Pipeline stages that get a span of their own (src/pipeline/*.ts enters them in order). */
export type TraceStage = 'identity' | 'catalog' | 'policy' | 'quota' | 'approval' | 'credentials' | 'validation' | 'upstream' | 'redaction' | 'audit';

/** W3C trace context for one outgoing request: goes into params._meta and, over HTTP, into the headers. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/**
 * The trace of one client request. Stages are entered in pipeline order: entering one ends the previous, and the
 * request's end closes whichever is open, so a failed request's last stage span is where it broke.
 */
export interface RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  enter(stage: TraceStage, attributes?: Attributes): void;
  /** Trace context naming the open stage span as parent, for the request about to go upstream. */
  carrier(): TraceCarrier;
  session(id: string, protocolVersion: string): void;
  /** Marks the request (and the open stage) failed; the same error reported twice is recorded once. */
  fail(err: unknown): void;
  /** The tool answered with isError: true (semconv: error.type tool_error); the call itself succeeded. */
  toolError(): void;
  end(): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /** A trace for a JSON-RPC request, or undefined with tracing off. */
  startRequest(message: { id: unknown; method: string; params?: Record<string, unknown> }, headers: Record<string, string | string[] | undefined>): RequestTrace | undefined;
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  otlpUrl: string;
  serviceName: string;
  serviceVersion: string;
  sampleRatio: number;
  exportIntervalMs: number;
  headers?: Record<string, string>;
}

export const TRACING_OFF: Tracing = Object.freeze({
  enabled: false,
  startRequest: () => undefined,
  shutdown: async () => undefined,
});

const propagator = new W3CTraceContextPropagator();

/** Reads a carrier that is either Node's lower-cased headers or an MCP params._meta object. */
const getter = {
  keys: (c: Record<string, unknown>) => Object.keys(c),
  get: (c: Record<string, unknown>, key: string): string | undefined => {
    const v = c[key];
    return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
  },
};
const setter = { set: (c: Record<string, string>, key: string, value: string) => void (c[key] = value) };

/** A span name is `{mcp.method.name} {target}`; a target the client chose is cut short (it is not a label, but still). */
const MAX_TARGET = 128;

class Request implements RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  private readonly parent: Context;
  /** An unsampled request records nothing: its stages get no spans, and its context still propagates. */
  private readonly recording: boolean;
  private stageSpan: Span | undefined;
  private failure: unknown;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
  ) {
    const sc = span.spanContext();
    this.traceId = sc.traceId;
    this.spanId = sc.spanId;
    this.parent = trace.setSpan(ROOT_CONTEXT, span);
    this.recording = span.isRecording();
  }

  enter(stage: TraceStage, attributes?: Attributes): void {
    if (!this.recording) return;
    this.stageSpan?.end();
    this.stageSpan = this.tracer.startSpan(
      `portcullis.${stage}`,
      { kind: stage === 'upstream' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes: attributes ? { 'portcullis.stage': stage, ...attributes } : { 'portcullis.stage': stage } },
      this.parent,
    );
  }

  carrier(): TraceCarrier {
    const c = {} as TraceCarrier;
    propagator.inject(trace.setSpan(ROOT_CONTEXT, this.stageSpan ?? this.span), c, setter);
    return c;
  }

  session(id: string, protocolVersion: string): void {
    if (!this.recording) return;
    this.span.setAttribute('mcp.session.id', id);
    this.span.setAttribute('mcp.protocol.version', protocolVersion);
  }

  fail(err: unknown): void {
    if (this.failure === err) return;
    this.failure = err;
    const e = err as { code?: unknown; message?: unknown; stage?: unknown; name?: unknown };
    const code = typeof e.code === 'number' ? String(e.code) : undefined;
    const message = typeof e.message === 'string' ? e.message.slice(0, 300) : 'error';
    // semconv: error.type is the JSON-RPC error code when there is one, else a low-cardinality class.
    const type = code ?? (typeof e.name === 'string' ? e.name : 'error');
    if (code !== undefined) this.span.setAttribute('rpc.response.status_code', code);
    this.span.setAttribute('error.type', type);
    if (typeof e.stage === 'string') this.span.setAttribute('portcullis.stage', e.stage);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    if (this.stageSpan) {
      this.stageSpan.setAttribute('error.type', type);
      this.stageSpan.setStatus({ code: SpanStatusCode.ERROR, message });
    }
  }

  toolError(): void {
    this.span.setAttribute('error.type', 'tool_error');
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'tool_error' });
  }

  end(): void {
    this.stageSpan?.end();
    this.stageSpan = undefined;
    this.span.end();
  }
}

export function createTracing(opts: TracingOptions, log: Logger): Tracing {
  const exporter = new OTLPTraceExporter({ url: opts.otlpUrl, headers: opts.headers });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.serviceVersion }),
    // A client's sampling decision is kept; requests that arrive without one are sampled at sampleRatio.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: opts.exportIntervalMs, maxQueueSize: 8192, maxExportBatchSize: 512 })],
  });
  // Not registered globally: the gateway's own tracer only, no global state for libraries to pick up.
  const tracer = provider.getTracer('portcullis', opts.serviceVersion);
  log.info('tracing on', { otlpUrl: opts.otlpUrl, serviceName: opts.serviceName, sampleRatio: opts.sampleRatio });

  return {
    enabled: true,
    startRequest(message, headers) {
      const params = message.params;
      const meta = params?._meta as Record<string, unknown> | undefined;
      // MCP semconv: context travels in params._meta; the HTTP header is the fallback for plain HTTP clients.
      const carrier = meta && typeof meta.traceparent === 'string' ? meta : (headers as Record<string, unknown>);
      const parent = propagator.extract(ROOT_CONTEXT, carrier, getter);
      const method = message.method;
      const attributes: Attributes = { 'mcp.method.name': method, 'network.transport': 'tcp', 'network.protocol.name': 'http' };
      if (message.id !== undefined && message.id !== null) attributes['jsonrpc.request.id'] = String(message.id);
      let target: string | undefined;
      if (method === 'tools/call' && typeof params?.name === 'string') {
        target = params.name.slice(0, MAX_TARGET);
        attributes['gen_ai.tool.name'] = target;
        attributes['gen_ai.operation.name'] = 'execute_tool';
      } else if (method === 'prompts/get' && typeof params?.name === 'string') {
        target = params.name.slice(0, MAX_TARGET);
        attributes['gen_ai.prompt.name'] = target;
      } else if (method.startsWith('resources/') && typeof params?.uri === 'string') {
        attributes['mcp.resource.uri'] = params.uri.slice(0, 512);
      }
      const span = tracer.startSpan(target === undefined ? method : `${method} ${target}`, { kind: SpanKind.SERVER, attributes }, parent);
      return new Request(tracer, span);
    },
    async shutdown() {
      await provider.shutdown().catch((err: Error) => log.warn('trace export at shutdown failed', { error: err.message }));
    },
  };
}
