/**
 * What the gateway and services need from a tracer, and when there is one.
 * Tracing is off unless an OTLP endpoint is configured; off means `Tracer`
 * is undefined and the hot paths create nothing (no span, no clock reading,
 * no metadata rewrite): a request's trace context entry is forwarded
 * untouched, as any other metadata entry is.
 */
import { ConfigError } from '../config-error.js';
import type { TraceContext } from '../protocol/trace-context.js';

export type SpanKind = 'server' | 'client' | 'internal';
export type SpanValue = string | number | boolean;

export interface SpanOptions {
  readonly kind: SpanKind;
  /** The remote or local parent; none starts a new trace. */
  readonly parent?: TraceContext | undefined;
  readonly attributes?: Readonly<Record<string, SpanValue>>;
}

/** One span: its context is what the next hop receives as its parent. */
export interface TraceSpan {
  readonly context: TraceContext;
  set(key: string, value: SpanValue): void;
  /** Marks the span failed with a Sluice error code (attribute `sluice.error.code`, status ERROR). */
  fail(code: string, message?: string): void;
  /** Ends the span; later calls do nothing. */
  end(): void;
}

export interface Tracer {
  start(name: string, options: SpanOptions): TraceSpan;
  /** Exports what is queued; resolves when the exporter has answered (or given up). */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Tracing options. Every field defaults from the standard OpenTelemetry
 * environment variables, so a deployment configures Sluice like any other
 * instrumented process.
 */
export interface TracingOptions {
  /**
   * OTLP/HTTP base URL (`http://collector:4318`); spans go to
   * `<endpoint>/v1/traces`. Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
   * (used as the full URL), else `OTEL_EXPORTER_OTLP_ENDPOINT`, else none:
   * tracing off.
   */
  endpoint?: string | null;
  /** `service.name` of the spans. Default `OTEL_SERVICE_NAME`, else the caller's default (`sluice-gateway`, or the service's name). */
  serviceName?: string;
  /** Spans queued for export at most; beyond, new spans are dropped (counted by the SDK). Default 2048. */
  maxQueueSize?: number;
}

/** Resolved tracing settings: where spans go and under which service name. */
export interface TracingSettings {
  /** Full OTLP/HTTP traces URL. */
  readonly tracesUrl: string;
  readonly serviceName: string;
  readonly maxQueueSize: number;
}

/**
 * The settings, or undefined when tracing is off (no endpoint, or
 * `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`). Throws
 * ConfigError naming the option or variable for a URL that is not http(s).
 */
export function tracingSettings(options: TracingOptions | undefined, defaultServiceName: string, env: Readonly<Record<string, string | undefined>> = process.env): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return undefined;
  let tracesUrl: string | undefined;
  if (options?.endpoint !== undefined && options.endpoint !== null) {
    tracesUrl = tracesUrlOf(options.endpoint, 'tracing.endpoint', true);
  } else if (options?.endpoint === undefined) {
    if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) tracesUrl = tracesUrlOf(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', false);
    else if (env.OTEL_EXPORTER_OTLP_ENDPOINT) tracesUrl = tracesUrlOf(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'OTEL_EXPORTER_OTLP_ENDPOINT', true);
  }
  if (!tracesUrl) return undefined;
  const serviceName = options?.serviceName ?? (env.OTEL_SERVICE_NAME || defaultServiceName);
  if (typeof serviceName !== 'string' || serviceName.length === 0 || serviceName.length > 255) {
    throw new ConfigError('tracing.serviceName', `must be a string of 1 to 255 characters, got ${JSON.stringify(serviceName)}`);
  }
  const maxQueueSize = options?.maxQueueSize ?? 2048;
  if (!Number.isInteger(maxQueueSize) || maxQueueSize < 1 || maxQueueSize > 1_000_000) {
    throw new ConfigError('tracing.maxQueueSize', `must be an integer from 1 to 1000000, got ${JSON.stringify(maxQueueSize)}`);
  }
  return { tracesUrl, serviceName, maxQueueSize };
}

function tracesUrlOf(value: string, key: string, base: boolean): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(key, `must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(key, `must be an http(s) URL, got ${JSON.stringify(value)}`);
  // The OTLP spec: a base endpoint gets the signal's path appended; a per-signal one is used as is.
  return base ? `${value.replace(/\/+$/, '')}/v1/traces` : value;
}

/**
 * The tracer for `options`, or undefined when tracing is off. The
 * OpenTelemetry SDK is imported only when it is on, so a process that does
 * not trace never loads it.
 */
export async function loadTracer(options: TracingOptions | undefined, defaultServiceName: string, env?: Readonly<Record<string, string | undefined>>): Promise<Tracer | undefined> {
  const settings = tracingSettings(options, defaultServiceName, env);
  if (!settings) return undefined;
  const { createOtelTracer } = await import('./otel-tracer.js');
  return createOtelTracer(settings);
}
