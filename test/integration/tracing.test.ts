/**
 * Tracing over real sockets: spans reach a real OTLP/HTTP receiver, the
 * gateway's span is the child of the client's context and the parent of the
 * service's, it says whom a stream waited on, failures carry their code, and
 * with tracing off the client's context still reaches the service untouched.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { routeMetadata } from '../../src/protocol/metadata.js';
import { encodeJson } from '../../src/protocol/json.js';
import { parseTraceparent, readTraceContext, traceContextEntry, type TraceContext } from '../../src/protocol/trace-context.js';
import type { RequestContext } from '../../src/service/handlers.js';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import { loadTracer } from '../../src/observability/tracing.js';
import { lastItem } from '../../src/flow/emitters.js';
import { recorder, useHarness } from '../helpers/harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';

const h = useHarness();
let receiver: OtlpReceiver;

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await receiver.close();
});

const CLIENT: TraceContext = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=abc' };
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A gateway and a bench-style service both exporting to the receiver; the service's spans are flushed by the batch timer. */
async function tracedPair(routes = benchRoutes()) {
  const gw = await h.gateway({ tracing: { endpoint: receiver.url, serviceName: 'gw-under-test' } });
  const svc = await h.service({ url: gw.url, service: 'bench', instance: 'bench-t1', routes, tracing: { endpoint: receiver.url } });
  return { gw, svc };
}

function spanOf(spans: readonly ReceivedSpan[], service: string, name: string): ReceivedSpan | undefined {
  return spans.find((s) => s.service === service && s.name === name);
}

describe('tracing', () => {
  it('makes the gateway span a child of the client context and the parent of the service span, with route, model, instance and demand', async () => {
    const { gw, svc } = await tracedPair();
    const client = await h.client(gw.url);
    await expect(client.requestResponse('bench.echo', { hi: 1 }, { trace: CLIENT })).resolves.toEqual({ hi: 1 });
    await gw.close();
    await svc.tracer!.flush();
    await receiver.until((s) => !!spanOf(s, 'gw-under-test', 'bench.echo') && !!spanOf(s, 'bench', 'bench.echo'));
    const g = spanOf(receiver.spans, 'gw-under-test', 'bench.echo')!;
    const s = spanOf(receiver.spans, 'bench', 'bench.echo')!;
    expect(g.traceId).toBe(CLIENT_TRACE);
    expect(g.parentSpanId).toBe('00f067aa0ba902b7');
    expect(s.traceId).toBe(CLIENT_TRACE);
    expect(s.parentSpanId).toBe(g.spanId);
    expect(g.attributes).toMatchObject({
      'sluice.route': 'bench.echo',
      'sluice.model': 'response',
      'sluice.instance': 'bench-t1',
      'sluice.service': 'bench',
      'sluice.demand.requested': 1,
      'sluice.demand.delivered': 1,
      'sluice.attempts': 1,
    });
    expect(s.attributes).toMatchObject({ 'sluice.route': 'bench.echo', 'sluice.model': 'response', 'sluice.instance': 'bench-t1', 'sluice.demand.delivered': 1 });
    expect(receiver.contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);
  });

  it("measures a stream's wait on its consumer apart from its wait on its producer", async () => {
    const { gw } = await tracedPair();
    const conn = await h.raw(gw.url);
    const client = await h.client(gw.url);
    const rec = recorder();
    const stream = conn.requestStream({ data: encodeJson({ id: 'w1', count: 3 }), metadata: routeMetadata('bench.source', [traceContextEntry(CLIENT)]) }, 1, rec.handler);
    await rec.received(1);
    // The producer has sent all three (the gateway asked ahead); the consumer has asked for one: the stream waits on the consumer.
    for (let i = 0; i < 200 && (await client.requestResponse<{ emitted: number }>('bench.stats', { id: 'w1' })).emitted < 3; i++) await new Promise((r) => setTimeout(r, 10));
    stream.request(2);
    await rec.ended;
    await gw.close();
    await receiver.until((s) => !!spanOf(s, 'gw-under-test', 'bench.source'));
    const g = spanOf(receiver.spans, 'gw-under-test', 'bench.source')!;
    expect(g.attributes).toMatchObject({ 'sluice.model': 'stream', 'sluice.demand.requested': 3, 'sluice.demand.delivered': 3 });
    expect(g.attributes['sluice.wait.consumer_ms']).toBeGreaterThan(0);
    expect(g.attributes['sluice.wait.producer_ms']).toBeGreaterThanOrEqual(0);
  });

  it('says whom a stream waited on at the gateway and at the service: a paused consumer, then a slow producer', async () => {
    let slept = 0;
    const routes = {
      // Produces at once: whatever the stream waits on, it is not this producer.
      'w.burst': { requestStream: (d: { count: number }) => (async function* () {
        for (let i = 1; i < d.count; i++) yield i;
        yield lastItem(d.count);
      })() },
      // Sleeps before each item; the handler measures its own sleeps.
      'w.slow': { requestStream: (d: { count: number }) => (async function* () {
        for (let i = 1; i <= d.count; i++) {
          const t0 = performance.now();
          await new Promise((r) => setTimeout(r, 25));
          slept += performance.now() - t0;
          yield i === d.count ? lastItem(i) : i;
        }
      })() },
    };
    // No prefetch: the gateway passes demand through, so the service too sees its consumer pause.
    const gw = await h.gateway({ tracing: { endpoint: receiver.url, serviceName: 'gw-under-test' }, flow: { prefetch: 0 } });
    const svc = await h.service({ url: gw.url, service: 'w', instance: 'w-1', routes, tracing: { endpoint: receiver.url } });
    const conn = await h.raw(gw.url);

    const paused = recorder();
    const stream = conn.requestStream({ data: encodeJson({ count: 3 }), metadata: routeMetadata('w.burst', [traceContextEntry(CLIENT)]) }, 1, paused.handler);
    await paused.received(1);
    // The consumer holds its demand for a while (the pause is the scenario, not a synchronisation); the test times it itself.
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 150));
    const pause = performance.now() - t0;
    stream.request(2);
    await paused.ended;

    const slow = recorder();
    conn.requestStream({ data: encodeJson({ count: 4 }), metadata: routeMetadata('w.slow', [traceContextEntry(CLIENT)]) }, 4, slow.handler);
    await slow.ended;

    await gw.close();
    await svc.tracer!.flush();
    const names = ['w.burst', 'w.slow'];
    await receiver.until((s) => names.every((n) => !!spanOf(s, 'gw-under-test', n) && !!spanOf(s, 'w', n)));
    const wait = (span: ReceivedSpan) => ({ consumer: Number(span.attributes['sluice.wait.consumer_ms']), producer: Number(span.attributes['sluice.wait.producer_ms']) });
    for (const service of ['gw-under-test', 'w']) {
      const burst = spanOf(receiver.spans, service, 'w.burst')!;
      expect(burst.attributes).toMatchObject({ 'sluice.demand.requested': 3, 'sluice.demand.delivered': 3 });
      const b = wait(burst);
      // Each hop's consumer wait spans the whole pause (it starts before the client got its item and ends after its REQUEST_N).
      expect(b.consumer).toBeGreaterThanOrEqual(pause - 1);
      expect(b.consumer).toBeGreaterThan(b.producer);
      const s = wait(spanOf(receiver.spans, service, 'w.slow')!);
      // Demand was there from the start: every sleep of the producer is producer wait, and the consumer was never waited on longer.
      expect(s.producer).toBeGreaterThanOrEqual(slept - 1);
      expect(s.producer).toBeGreaterThan(s.consumer);
    }
  });

  it('takes the trace context of an HTTP bridge request from its traceparent header', async () => {
    const { gw } = await tracedPair();
    const res = await fetch(`${gw.url.replace(/^ws/, 'http')}/v1/routes/bench.echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: CLIENT.traceparent, tracestate: CLIENT.tracestate! },
      body: JSON.stringify({ over: 'http' }),
    });
    expect(res.status).toBe(200);
    await gw.close();
    await receiver.until((s) => !!spanOf(s, 'gw-under-test', 'bench.echo'));
    const g = spanOf(receiver.spans, 'gw-under-test', 'bench.echo')!;
    expect(g.traceId).toBe(CLIENT_TRACE);
    expect(g.parentSpanId).toBe('00f067aa0ba902b7');
  });

  it('records the error code on the gateway and service spans', async () => {
    const { gw, svc } = await tracedPair({
      'bench.fail': {
        requestResponse: () => {
          throw new SluiceError('INVALID_ARGUMENT', "'qty' must be a number");
        },
      },
    });
    const client = await h.client(gw.url);
    await expect(client.requestResponse('bench.fail', {}, { trace: CLIENT })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(client.requestResponse('bench.nowhere', {}, { trace: CLIENT })).rejects.toMatchObject({ code: 'NO_ROUTE' });
    await gw.close();
    await svc.tracer!.flush();
    await receiver.until((s) => !!spanOf(s, 'gw-under-test', 'bench.fail') && !!spanOf(s, 'bench', 'bench.fail'));
    for (const span of [spanOf(receiver.spans, 'gw-under-test', 'bench.fail')!, spanOf(receiver.spans, 'bench', 'bench.fail')!]) {
      expect(span.attributes['sluice.error.code']).toBe('INVALID_ARGUMENT');
      expect(span.statusCode).toBe(2);
    }
    // Refused at admission: no span (nothing was forwarded), and no crash.
    expect(receiver.spans.some((s) => s.name === 'bench.nowhere')).toBe(false);
  });

  it('with tracing off creates no spans and passes the client context to the service untouched', async () => {
    const gw = await h.gateway();
    let seen: TraceContext | undefined;
    let raw: string | undefined;
    const svc = await h.service({
      url: gw.url,
      service: 'svc',
      tracing: false,
      routes: {
        'svc.ctx': {
          requestResponse: (_d: unknown, ctx: RequestContext) => {
            seen = ctx.trace;
            raw = JSON.stringify(readTraceContext(ctx.metadata));
            return 'ok';
          },
        },
      },
    });
    expect(svc.tracer).toBeUndefined();
    const client = await h.client(gw.url);
    await client.requestResponse('svc.ctx', null, { trace: CLIENT });
    expect(seen).toEqual(CLIENT);
    expect(raw).toBe(JSON.stringify(CLIENT));
    // A malformed traceparent is ignored (W3C: restart the trace), not refused.
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const bad = { mimeType: 'message/x.sluice.trace-context.v0', content: new TextEncoder().encode('00-zz-00-01') };
    conn.requestResponse({ data: encodeJson(null), metadata: routeMetadata('svc.ctx', [bad]) }, rec.handler);
    await rec.received(1);
    expect(seen).toBeUndefined();
    expect(receiver.spans).toHaveLength(0);
  });

  it('a service span is the parent of the calls its handler makes with ctx.trace', async () => {
    const gw = await h.gateway();
    const tracer = await loadTracer({ endpoint: receiver.url, serviceName: 'outer' }, 'x');
    h.onCleanup(() => tracer?.shutdown());
    await h.service({ url: gw.url, service: 'inner', routes: { 'inner.get': { requestResponse: () => 42 } }, tracing: false });
    const outer = await h.service({
      url: gw.url,
      service: 'outer',
      tracing: { endpoint: receiver.url },
      routes: { 'outer.get': { requestResponse: (_d: unknown, ctx: RequestContext) => outerClient().requestResponse('inner.get', null, { trace: ctx.trace }) } },
    });
    const outerClient = () => outer.client;
    let innerCtx: TraceContext | undefined;
    const probe = await h.service({ url: gw.url, service: 'probe', tracing: false, routes: { 'probe.ctx': { requestResponse: (_d: unknown, ctx: RequestContext) => ((innerCtx = ctx.trace), 1) } } });
    expect(probe.tracer).toBeUndefined();
    const client = await h.client(gw.url);
    await expect(client.requestResponse('outer.get', null, { trace: CLIENT })).resolves.toBe(42);
    await outer.tracer!.flush();
    await receiver.until((s) => !!spanOf(s, 'outer', 'outer.get'));
    const span = spanOf(receiver.spans, 'outer', 'outer.get')!;
    expect(span.traceId).toBe(CLIENT_TRACE);
    expect(span.parentSpanId).toBe('00f067aa0ba902b7');
    // The gateway does not trace here, so the context passes it untouched.
    await client.requestResponse('probe.ctx', null, { trace: CLIENT });
    expect(parseTraceparent(innerCtx!.traceparent)?.spanId).toBe('00f067aa0ba902b7');
  });
});
