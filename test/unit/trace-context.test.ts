/** The trace context entry and the tracing settings read from options and the standard OTEL_* variables. */
import { describe, expect, it } from 'vitest';
import { decodeComposite, encodeComposite } from '../../src/protocol/metadata.js';
import {
  MAX_TRACESTATE_LENGTH,
  TRACE_CONTEXT_MIME,
  formatTraceparent,
  parseTraceparent,
  readTraceContext,
  traceContextEntry,
  withTraceContext,
} from '../../src/protocol/trace-context.js';
import { tracingSettings } from '../../src/observability/tracing.js';
import { ConfigError } from '../../src/config-error.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const bytes = (s: string) => new TextEncoder().encode(s);

describe('trace context entry', () => {
  it('round-trips traceparent and tracestate through composite metadata', () => {
    const wire = encodeComposite([traceContextEntry({ traceparent: TP, tracestate: 'a=1,b=2' })]);
    expect(readTraceContext(decodeComposite(wire))).toEqual({ traceparent: TP, tracestate: 'a=1,b=2' });
    expect(readTraceContext(decodeComposite(encodeComposite([traceContextEntry({ traceparent: TP })])))).toEqual({ traceparent: TP });
  });

  it('parses and formats a traceparent', () => {
    expect(parseTraceparent(TP)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 });
    expect(formatTraceparent(parseTraceparent(TP)!)).toBe(TP);
  });

  it.each([
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
    ['extra field on version 00', `${TP}-xx`],
    ['short', '00-4bf9-00f0-01'],
  ])('ignores a malformed traceparent (%s): the receiver starts a new trace', (_what, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
    expect(readTraceContext([{ mimeType: TRACE_CONTEXT_MIME, content: bytes(value) }])).toBeUndefined();
    expect(() => traceContextEntry({ traceparent: value })).toThrow(RangeError);
  });

  it('accepts a later version with extra fields, as W3C asks', () => {
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future')).toMatchObject({ flags: 1 });
  });

  it('drops a tracestate over the W3C bound and non-ASCII content, never throws', () => {
    const long = 'a='.concat('x'.repeat(MAX_TRACESTATE_LENGTH));
    expect(readTraceContext([{ mimeType: TRACE_CONTEXT_MIME, content: bytes(`${TP}\n${long}`) }])).toBeUndefined();
    expect(traceContextEntry({ traceparent: TP, tracestate: long }).content).toEqual(bytes(TP));
    expect(readTraceContext([{ mimeType: TRACE_CONTEXT_MIME, content: Uint8Array.of(0xff, 0x00) }])).toBeUndefined();
    expect(readTraceContext([])).toBeUndefined();
  });

  it('replaces an existing entry rather than adding a second', () => {
    const other = '00-11111111111111111111111111111111-2222222222222222-00';
    const entries = withTraceContext([{ mimeType: 'x/y', content: bytes('keep') }, traceContextEntry({ traceparent: TP })], { traceparent: other });
    expect(entries.filter((e) => e.mimeType === TRACE_CONTEXT_MIME)).toHaveLength(1);
    expect(readTraceContext(entries)?.traceparent).toBe(other);
    expect(entries[0]!.mimeType).toBe('x/y');
  });
});

describe('tracing settings', () => {
  it('is off without an endpoint', () => {
    expect(tracingSettings(undefined, 'svc', {})).toBeUndefined();
    expect(tracingSettings({ endpoint: null }, 'svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeUndefined();
  });

  it('reads the standard variables: base endpoint gets /v1/traces, the per-signal one is used as is', () => {
    expect(tracingSettings(undefined, 'svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/', OTEL_SERVICE_NAME: 'shop' })).toEqual({ tracesUrl: 'http://c:4318/v1/traces', serviceName: 'shop', maxQueueSize: 2048 });
    expect(tracingSettings(undefined, 'svc', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/x', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored' })?.tracesUrl).toBe('https://c/x');
    expect(tracingSettings(undefined, 'svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })?.serviceName).toBe('svc');
  });

  it('options win over the environment; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn it off', () => {
    expect(tracingSettings({ endpoint: 'http://a:1', serviceName: 'gw' }, 'svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:2', OTEL_SERVICE_NAME: 'env' })).toMatchObject({ tracesUrl: 'http://a:1/v1/traces', serviceName: 'gw' });
    expect(tracingSettings({ endpoint: 'http://a:1' }, 'svc', { OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(tracingSettings(undefined, 'svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('names the key or variable of a bad value', () => {
    expect(() => tracingSettings({ endpoint: 'grpc://c:4317' }, 'svc', {})).toThrow(ConfigError);
    expect(() => tracingSettings({ endpoint: 'grpc://c:4317' }, 'svc', {})).toThrow(/tracing\.endpoint/);
    expect(() => tracingSettings(undefined, 'svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => tracingSettings({ endpoint: 'http://a', maxQueueSize: 0 }, 'svc', {})).toThrow(/tracing\.maxQueueSize/);
  });
});
