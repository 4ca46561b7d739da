/**
 * The OpenTelemetry SDK behind Sluice's `Tracer`: a tracer provider of its
 * own (no global registration, so an application's own OpenTelemetry setup
 * is left alone and several Sluice parts in one process keep their own
 * service names), a bounded batch processor, and the OTLP/HTTP exporter.
 * Loaded only when tracing is on; the browser bundle never imports it.
 */
import { createTraceState, ROOT_CONTEXT, SpanKind as OtelSpanKind, SpanStatusCode, trace, TraceFlags, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { formatTraceparent, parseTraceparent, type TraceContext } from '../protocol/trace-context.js';
import type { SpanKind, SpanOptions, TraceSpan, Tracer, TracingSettings } from './tracing.js';

const KINDS: Record<SpanKind, OtelSpanKind> = { server: OtelSpanKind.SERVER, client: OtelSpanKind.CLIENT, internal: OtelSpanKind.INTERNAL };

/** A tracer exporting to `settings.tracesUrl` over OTLP/HTTP (JSON). */
export function createOtelTracer(settings: TracingSettings): Tracer {
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl }), {
    maxQueueSize: settings.maxQueueSize,
    maxExportBatchSize: Math.min(512, settings.maxQueueSize),
  });
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': settings.serviceName }), spanProcessors: [processor] });
  const tracer = provider.getTracer('sluice');
  return {
    start(name: string, options: SpanOptions): TraceSpan {
      const parent = options.parent ? parentContext(options.parent) : ROOT_CONTEXT;
      return new OtelSpan(tracer.startSpan(name, { kind: KINDS[options.kind], ...(options.attributes ? { attributes: { ...options.attributes } } : {}) }, parent));
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

class OtelSpan implements TraceSpan {
  readonly context: TraceContext;

  constructor(private readonly span: Span) {
    const c = span.spanContext();
    const state = c.traceState?.serialize();
    const traceparent = formatTraceparent({ traceId: c.traceId, spanId: c.spanId, flags: c.traceFlags });
    this.context = state ? { traceparent, tracestate: state } : { traceparent };
  }

  set(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  fail(code: string, message?: string): void {
    this.span.setAttribute('sluice.error.code', code);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: message ? `${code}: ${message}` : code });
  }

  end(): void {
    if (this.span.isRecording()) this.span.end();
  }
}

function parentContext(ctx: TraceContext) {
  const p = parseTraceparent(ctx.traceparent);
  if (!p) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: p.traceId,
    spanId: p.spanId,
    traceFlags: p.flags & TraceFlags.SAMPLED,
    isRemote: true,
    ...(ctx.tracestate ? { traceState: createTraceState(ctx.tracestate) } : {}),
  });
}
