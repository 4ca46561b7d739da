/**
 * Demand end to end: consumer -> gateway -> bench.source producer, over real
 * WebSockets. The producer's own counters (bench.stats) are compared with
 * what the consumer requested and received.
 */
import { describe, expect, it } from 'vitest';
import type { StreamContext } from '../../src/service/handlers.js';
import { eventually, json, jsonPayload, metricValue, metricsText, recorder, useHarness } from '../helpers/harness.js';

const h = useHarness();

async function stats(client: Awaited<ReturnType<typeof h.client>>, id: string) {
  return client.requestResponse<{ emitted: number; requested: number; cancelled: boolean; completed: boolean }>('bench.stats', { id });
}

describe('demand through the gateway', () => {
  it('a consumer requesting 1 at a time paces the producer 1 at a time, with demand passed through unchanged', async () => {
    const gw = await h.gateway({ flow: { prefetch: 0 } });
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('bench.source', { id: 'one-by-one', size: 100 }), 1, rec.handler);
    let consumerRequested = 1;
    for (let received = 1; received <= 40; received++) {
      await rec.received(received);
      // The consumer is slow: it does a round trip of work before asking for more.
      const s = await stats(observer, 'one-by-one');
      expect(s.emitted).toBeLessThanOrEqual(consumerRequested);
      expect(s.requested).toBeLessThanOrEqual(consumerRequested);
      // Nothing beyond what the consumer asked for: the producer is at the consumer's pace.
      expect(s.emitted).toBe(received);
      stream.request(1);
      consumerRequested++;
    }
    const items = rec.items.map((p) => json<{ seq: number; requested: number; pad: string }>(p));
    expect(items.map((i) => i.seq)).toEqual([...Array(40).keys()]);
    items.forEach((item, i) => expect(item.requested).toBe(i + 1));
    expect(JSON.stringify(items[0]).length).toBeGreaterThanOrEqual(90);
    stream.cancel();
  });

  it('with the default prefetch, a consumer requesting 1 at a time keeps the producer one item ahead, held at the gateway', async () => {
    const gw = await h.gateway();
    expect(gw.config.flow.prefetch).toBeGreaterThanOrEqual(1);
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('bench.source', { id: 'one-ahead', size: 100 }), 1, rec.handler);
    let consumerRequested = 1;
    for (let received = 1; received <= 40; received++) {
      await rec.received(received);
      // Wait for the item asked ahead to reach the gateway, then check the producer from its own counters.
      const s = await eventually(async () => {
        const r = await stats(observer, 'one-ahead');
        return r.emitted === received + 1 ? r : undefined;
      }, `the producer to be one item ahead of the consumer's ${received}`);
      // Asked ahead as many as the consumer's first request (1), never more.
      expect(s.requested).toBe(consumerRequested + 1);
      expect(rec.items).toHaveLength(received);
      stream.request(1);
      consumerRequested++;
    }
    const items = rec.items.map((p) => json<{ seq: number }>(p));
    expect(items.map((i) => i.seq)).toEqual([...Array(40).keys()]);
    await eventually(async () => (metricValue(await metricsText(gw), 'sluice_prefetch_held_bytes') ?? 0) > 0, 'the item asked ahead to be held at the gateway');
    // The held item is delivered the moment the consumer asks, without waiting for the producer.
    stream.request(1);
    await rec.received(41);
    stream.cancel();
    const end = await eventually(async () => {
      const r = await stats(observer, 'one-ahead');
      return r.cancelled ? r : undefined;
    }, 'cancel to reach the producer');
    // The consumer asked for 42 in all (1, then 41 times 1), and the gateway for one more ahead.
    expect(end.emitted).toBeLessThanOrEqual(43);
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_prefetch_held_bytes') === 0, 'the held item to be freed by the cancel');
  });

  it('a consumer kept waiting by its producer makes the gateway ask twice as far ahead each time, up to flow.prefetch', async () => {
    const gw = await h.gateway({ flow: { window: 64, prefetch: 8 } });
    // A producer that emits only the items the test lets through, and counts the demand it was given.
    let ctx: StreamContext | undefined;
    let allowed = 2;
    let wake: (() => void) | undefined;
    const routes = {
      'gated.source': {
        requestStream(_data: unknown, c: StreamContext) {
          ctx = c;
          return (async function* () {
            for (let seq = 0; ; seq++) {
              while (seq >= allowed) await new Promise<void>((resolve) => (wake = resolve));
              yield { seq, pad: 'x'.repeat(100) };
            }
          })();
        },
      },
    };
    await h.service({ url: gw.url, service: 'gated', routes });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('gated.source', {}), 2, rec.handler);
    const demandAtProducer = (n: number, what: string) => eventually(() => ctx?.requested === n, `the producer to have been asked for ${n}: ${what}`);
    await rec.received(2);
    await demandAtProducer(4, "the consumer's 2 and as many ahead");
    // The producer sends nothing more: each top-up finds nothing held, so the stream asks twice as far ahead.
    stream.request(2);
    await demandAtProducer(8, '4 owed and 4 ahead');
    stream.request(2);
    await demandAtProducer(14, '6 owed and 8 ahead');
    stream.request(2);
    await demandAtProducer(16, '8 owed and still 8 ahead: flow.prefetch is the cap');
    // The producer catches up: the consumer gets the 8 it asked for, the gateway holds the 8 asked ahead and asks nothing more.
    allowed = 20;
    wake?.();
    await rec.received(8);
    await eventually(async () => (metricValue(await metricsText(gw), 'sluice_prefetch_held_bytes') ?? 0) > 0, 'the items asked ahead to be held at the gateway');
    await eventually(() => ctx?.emitted === 16, 'the producer to send what it was asked for');
    expect(ctx!.requested).toBe(16);
    expect(rec.items).toHaveLength(8);
    // A held item goes out the moment the consumer asks, in order.
    stream.request(1);
    await rec.received(9);
    expect(rec.items.map((p) => json<{ seq: number }>(p).seq)).toEqual([...Array(9).keys()]);
    stream.cancel();
    await eventually(async () => metricValue(await metricsText(gw), 'sluice_prefetch_held_bytes') === 0, 'the held items to be freed by the cancel');
  });

  it('a consumer asking for more than the window gets it, with the gateway holding at most the window', async () => {
    const gw = await h.gateway({ flow: { window: 16, prefetch: 0 } });
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('bench.source', { id: 'batch', size: 100 }), 100, rec.handler);
    await rec.received(100);
    let s = await stats(observer, 'batch');
    expect(s.emitted).toBe(100);
    expect(s.requested).toBe(100);
    // Top-ups beyond the window travel in batches of window / 2, never beyond the consumer's demand.
    stream.request(1000);
    await rec.received(1100);
    s = await stats(observer, 'batch');
    expect(s.emitted).toBe(1100);
    expect(s.requested).toBe(1100);
    const metrics = await metricsText(gw);
    expect(metricValue(metrics, 'sluice_demand_outstanding', { route: 'bench.source', side: 'producer' }) ?? 0).toBeLessThanOrEqual(16);
    stream.cancel();
  });

  it('with prefetch, the producer is never more than the window ahead of the consumer', async () => {
    const gw = await h.gateway({ flow: { window: 16, prefetch: 256 } });
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('bench.source', { id: 'ahead-window', size: 100 }), 100, rec.handler);
    await rec.received(100);
    // Asked ahead: 100 (the first request), capped by the window: at most 16 beyond what the consumer took.
    const s = await eventually(async () => {
      const r = await stats(observer, 'ahead-window');
      return r.emitted > 100 ? r : undefined;
    }, 'the producer to send ahead of the consumer');
    expect(s.emitted).toBeLessThanOrEqual(100 + 16);
    expect(s.requested).toBeLessThanOrEqual(100 + 16);
    expect(rec.items).toHaveLength(100);
    stream.request(50);
    await rec.received(150);
    const t = await stats(observer, 'ahead-window');
    expect(t.requested - 150).toBeLessThanOrEqual(16);
    expect(rec.items.map((p) => json<{ seq: number }>(p).seq)).toEqual([...Array(150).keys()]);
    stream.cancel();
  });

  it('an unbounded request from a consumer that stops reading its socket does not make the gateway buffer', async () => {
    const highWater = 64 * 1024;
    const gw = await h.gateway({ flow: { window: 32 }, limits: { outboundHighWater: highWater, outboundHardLimit: 64 * 1024 * 1024, slowConsumerTimeoutMs: 1_000 } });
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestStream(jsonPayload('bench.source', { id: 'stalled', size: 1000 }), 0x7fffffff, rec.handler);
    await rec.received(10);
    // Stop reading: the kernel buffers fill, then the gateway's own buffer passes its high water mark.
    (conn as unknown as { transport: { socket: { pause(): void } } }).transport.socket.pause();
    await eventually(async () => (metricValue(await metricsText(gw), 'sluice_outbound_buffered_bytes') ?? 0) >= highWater, 'the gateway to see the consumer congested');
    const before = await stats(observer, 'stalled');
    // While congested no demand goes upstream: at most the window already requested can still arrive.
    const after = await eventually(async () => {
      const s = await stats(observer, 'stalled');
      return s.cancelled ? s : undefined;
    }, 'the slow consumer to be cut off and the producer cancelled');
    expect(after.emitted - before.emitted).toBeLessThanOrEqual(32);
    expect(metricValue(await metricsText(gw), 'sluice_connections', { role: 'client' })).toBe(1);
  });

  it('cancel reaches the producer', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const client = await h.client(gw.url);
    const received: unknown[] = [];
    await new Promise<void>((resolve) => {
      const sub = client.requestStream('bench.source', { id: 'to-cancel' }, { prefetch: 8 }).subscribe((item) => {
        received.push(item);
        if (received.length === 5) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    // CANCEL and this request travel the same connections in order, so the producer has seen the cancel.
    const s = await stats(client, 'to-cancel');
    expect(s.cancelled).toBe(true);
    expect(s.completed).toBe(false);
    // The 8 asked for, 4 more as the client topped up, and as many ahead as the first request (8), doubled
    // if the top-up found fewer than 4 held.
    expect(s.emitted).toBeLessThanOrEqual(8 + 4 + 16);
  });

  it('a consumer that disconnects cancels its streams at the producer', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const observer = await h.client(gw.url);
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestStream(jsonPayload('bench.source', { id: 'gone' }), 4, rec.handler);
    await rec.received(4);
    conn.close();
    const s = await eventually(async () => {
      const r = await stats(observer, 'gone');
      return r.cancelled ? r : undefined;
    }, 'cancel after disconnect');
    // The 4 asked for, and at most 4 more asked ahead of the consumer (as many as its first request).
    expect(s.emitted).toBeGreaterThanOrEqual(4);
    expect(s.emitted).toBeLessThanOrEqual(8);
  });
});
