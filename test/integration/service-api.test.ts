/** The embedded service API over real sockets: handler shapes, errors, overflow policies, cancellation. */
import { describe, expect, it } from 'vitest';
import { interval, map, take, toArray, lastValueFrom } from 'rxjs';
import { SluiceError } from '../../src/errors.js';
import { lastItem } from '../../src/flow/emitters.js';
import { routeMetadata } from '../../src/protocol/metadata.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { eventually, recorder, useHarness } from '../helpers/harness.js';

const h = useHarness();

async function setup(routes: RouteTable) {
  const gw = await h.gateway();
  await h.service({ url: gw.url, service: 'svc', routes });
  return { gw, client: await h.client(gw.url) };
}

describe('service API', () => {
  it('delivers fire-and-forget to the handler', async () => {
    const got: unknown[] = [];
    let arrived: () => void = () => {};
    const done = new Promise<void>((r) => (arrived = r));
    const { client } = await setup({ 'svc.log': { fireAndForget: (d) => (got.push(d), arrived()) } });
    client.fireAndForget('svc.log', { event: 'login' });
    await done;
    expect(got).toEqual([{ event: 'login' }]);
  });

  it('passes a handler SluiceError code through; plain errors become INTERNAL', async () => {
    const { client } = await setup({
      'svc.check': {
        requestResponse: (d: { qty?: unknown }) => {
          if (typeof d.qty !== 'number') throw new SluiceError('INVALID_ARGUMENT', "'qty' must be a number");
          throw new Error('database on fire');
        },
      },
    });
    await expect(client.requestResponse('svc.check', {})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: "'qty' must be a number" });
    await expect(client.requestResponse('svc.check', { qty: 1 })).rejects.toMatchObject({ code: 'INTERNAL', message: 'database on fire' });
  });

  it('answers malformed JSON data with INVALID_ARGUMENT and keeps serving', async () => {
    const { gw } = await setup({ 'svc.echo': { requestResponse: (d) => d } });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestResponse({ data: new TextEncoder().encode('{"broken": '), metadata: routeMetadata('svc.echo') }, rec.handler);
    const end = await rec.ended;
    expect(end.error.code).toBe('INVALID_ARGUMENT');
    expect(end.error.message).toMatch(/^payload data is not valid UTF-8 JSON/);
    const ok = recorder();
    conn.requestResponse({ data: new TextEncoder().encode('"fine"'), metadata: routeMetadata('svc.echo') }, ok.handler);
    await ok.received(1);
  });

  it('refuses an interaction model the route does not serve', async () => {
    const { client } = await setup({ 'svc.only-rr': { requestResponse: () => 1 } });
    const err = await lastValueFrom(client.requestStream('svc.only-rr', {})).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('INVALID_ARGUMENT');
    expect((err as SluiceError).message).toBe("route 'svc.only-rr' does not serve request-stream");
  });

  it('an Observable that outruns demand ends the stream with BUFFER_OVERFLOW under the default policy', async () => {
    const { gw } = await setup({ 'svc.firehose': { bufferSize: 8, requestStream: () => interval(0).pipe(map((i) => ({ i }))) } });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    // Request 2 and never more: the producer keeps emitting into its 8-item buffer until it overflows.
    conn.requestStream({ data: new TextEncoder().encode('{}'), metadata: routeMetadata('svc.firehose') }, 2, rec.handler);
    const end = await rec.ended;
    expect(end.error.code).toBe('BUFFER_OVERFLOW');
    expect(end.error.message).toMatch(/8 items buffered/);
    expect(rec.items).toHaveLength(2);
  });

  it('drop-newest keeps the stream alive and delivers only what fit', async () => {
    let produced = 0;
    const { client } = await setup({
      'svc.lossy': {
        bufferSize: 4,
        overflow: 'drop-newest',
        requestStream: () => interval(1).pipe(take(50), map((i) => ((produced = i + 1), i))),
      },
    });
    const it = client.iterateStream<number>('svc.lossy', {}, { prefetch: 1 });
    const first = await it.next();
    await eventually(() => produced === 50, 'the producer to finish');
    const rest: number[] = [];
    for await (const v of it) rest.push(v);
    expect(first.value).toBe(0);
    // One item in flight, one the gateway holds ahead of the consumer, and the 4 buffered; the rest were dropped by policy.
    expect(rest.length).toBeLessThanOrEqual(6);
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
  });

  it('cancelling a stream aborts the handler signal and ends its generator', async () => {
    let aborted = false;
    let finalized = false;
    const { client } = await setup({
      'svc.gen': {
        async *requestStream(_d, ctx) {
          ctx.signal.addEventListener('abort', () => (aborted = true));
          try {
            for (let i = 0; ; i++) yield i;
          } finally {
            finalized = true;
          }
        },
      },
    });
    const items = await lastValueFrom(client.requestStream('svc.gen', {}, { prefetch: 4 }).pipe(take(3), toArray()));
    expect(items).toEqual([0, 1, 2]);
    await eventually(() => aborted && finalized, 'the generator to be cancelled and finalized');
  });

  it('lastItem completes the stream with its final item, without extra demand', async () => {
    const { gw } = await setup({
      'svc.three': {
        async *requestStream() {
          yield 1;
          yield 2;
          yield lastItem(3);
        },
      },
    });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestStream({ data: new TextEncoder().encode('{}'), metadata: routeMetadata('svc.three') }, 3, rec.handler);
    const end = await rec.ended;
    expect(end.error).toBeUndefined();
    expect(rec.items).toHaveLength(3);
  });

  it('a channel handler pulls input only as it consumes it', async () => {
    const { client } = await setup({
      'svc.sum': {
        inputPrefetch: 1,
        async *requestChannel(input) {
          let sum = 0;
          for await (const n of input as AsyncIterable<number>) {
            sum += n;
            yield sum;
          }
        },
      },
    });
    let pulled = 0;
    async function* numbers() {
      for (let i = 1; i <= 100; i++) {
        pulled++;
        yield i;
      }
    }
    const sums = await lastValueFrom(client.requestChannel<number, number>('svc.sum', numbers(), { prefetch: 1000 }).pipe(toArray()));
    expect(sums).toHaveLength(100);
    expect(sums.at(-1)).toBe(5050);
    expect(pulled).toBe(100);
  });
});
