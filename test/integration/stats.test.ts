/**
 * sluice.stats over a real socket: snapshots at the interval while there is
 * demand, none without it (counted at the gateway), cancel stops it, and the
 * numbers describe the traffic that is really flowing.
 */
import { describe, expect, it } from 'vitest';
import type { StatsSnapshot } from '../../src/observability/stats.js';
import { eventually, json, jsonPayload, metricValue, metricsText, recorder, useHarness } from '../helpers/harness.js';
import type { Gateway } from '../../src/gateway.js';

const h = useHarness();

/** Snapshots the gateway has produced, read from its own counter (not from what the client received). */
async function produced(gw: Gateway): Promise<number> {
  return metricValue(await metricsText(gw), 'sluice_items_forwarded_total', { route: 'sluice.stats', direction: 'to_requester' }) ?? 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sluice.stats', () => {
  it('emits one snapshot per interval while there is demand', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench', instance: 'bench-1' });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const arrivals: number[] = [];
    const onNext = rec.handler.onNext;
    rec.handler.onNext = (p) => {
      arrivals.push(performance.now());
      onNext(p);
    };
    const start = performance.now();
    const stream = conn.requestStream(jsonPayload('sluice.stats', { intervalMs: 200 }), 4, rec.handler);
    await rec.received(4);
    // The first snapshot comes one interval after subscribing (its rates need a time span), then one per interval.
    const gaps = arrivals.map((t, i) => t - (i === 0 ? start : arrivals[i - 1]!));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(180);
    expect(arrivals.at(-1)! - start).toBeLessThan(4 * 200 + 1_500);

    const snap = json<StatsSnapshot>(rec.items.at(-1)!);
    expect(snap.at).toBeGreaterThan(Date.now() - 60_000);
    expect(snap.connections).toEqual({ client: 1, service: 1 });
    expect(snap.instances).toEqual([{ service: 'bench', instance: 'bench-1', routes: ['bench.echo', 'bench.sink', 'bench.source', 'bench.stats'], active: 0 }]);
    const self = snap.routes.find((r) => r.route === 'sluice.stats')!;
    expect(self.inFlight).toBe(1);
    expect(self.breaker).toBe('closed');
    const echo = snap.routes.find((r) => r.route === 'bench.echo')!;
    expect(echo).toEqual({
      route: 'bench.echo',
      ratePerSec: { toRequester: 0, toResponder: 0 },
      inFlight: 0,
      demand: { consumer: 0, producer: 0 },
      buffered: { items: 0, bytes: 0 },
      errors: {},
      breaker: 'closed',
    });
    stream.cancel();
  });

  it('produces nothing while the subscriber requests nothing, and resumes on request(n)', async () => {
    const gw = await h.gateway();
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('sluice.stats', { intervalMs: 100 }), 2, rec.handler);
    await rec.received(2);
    const before = await produced(gw);
    expect(before).toBe(2);
    // Ten intervals with no demand: the gateway must produce nothing (its own count), and nothing arrives.
    await sleep(1_000);
    expect(await produced(gw)).toBe(2);
    expect(rec.items).toHaveLength(2);

    stream.request(1);
    await rec.received(3);
    expect(await produced(gw)).toBe(3);
    await sleep(500);
    expect(await produced(gw)).toBe(3);
    stream.cancel();
  });

  it('stops at once on cancel and when the subscriber disconnects', async () => {
    const gw = await h.gateway();
    const conn = await h.raw(gw.url);
    const rec = recorder();
    const stream = conn.requestStream(jsonPayload('sluice.stats', { intervalMs: 100 }), 1000, rec.handler);
    await rec.received(2);
    stream.cancel();
    const atCancel = await produced(gw);
    await sleep(500);
    expect(await produced(gw)).toBe(atCancel);

    const other = await h.raw(gw.url);
    const rec2 = recorder();
    other.requestStream(jsonPayload('sluice.stats', { intervalMs: 100 }), 1000, rec2.handler);
    await rec2.received(2);
    other.close();
    const watcher = await h.raw(gw.url);
    const rec3 = recorder();
    watcher.requestStream(jsonPayload('sluice.stats', { intervalMs: 100 }), 1, rec3.handler);
    await rec3.received(1);
    // Only the watcher's own subscription is left.
    expect(json<StatsSnapshot>(rec3.items[0]!).routes.find((r) => r.route === 'sluice.stats')!.inFlight).toBe(1);
  });

  it('reports rates, in-flight, demand and errors of real traffic', async () => {
    const gw = await h.gateway({ flow: { window: 16 } });
    await h.service({ url: gw.url, service: 'bench', instance: 'bench-1' });
    const client = await h.client(gw.url);
    const watch = await h.raw(gw.url);
    const snaps = recorder();
    const stats = watch.requestStream(jsonPayload('sluice.stats', { intervalMs: 200 }), 1000, snaps.handler);
    const next = async () => {
      await snaps.received(snaps.items.length + 1);
      return json<StatsSnapshot>(snaps.items.at(-1)!);
    };
    const route = (s: StatsSnapshot, name: string) => s.routes.find((r) => r.route === name)!;

    // An endless source whose consumer took its 5 items: open, owed nothing, asked nothing more of the producer,
    // which sent 5 more ahead of demand (prefetch: as many as the consumer's first request) that the gateway holds.
    const consumer = await h.raw(gw.url);
    const src = recorder();
    const source = consumer.requestStream(jsonPayload('bench.source', { id: 'stats-load' }), 5, src.handler);
    await src.received(5);
    // A sink channel granted 10 results it has no input for yet: 10 owed to the consumer; asked of the producer,
    // 1: before the first result shows the size, the window is what fits at the largest payload allowed.
    const sinkRec = recorder();
    const sink = consumer.requestChannel(jsonPayload('bench.sink', { delayMs: 0 }), 10, false, sinkRec.handler);
    await eventually(async () => {
      const snap = await next();
      return route(snap, 'bench.sink').inFlight === 1 && route(snap, 'bench.source').buffered.items === 5;
    }, 'the sink channel, and the source items sent ahead of demand, in the snapshot');
    let s = await next();
    expect(route(s, 'bench.source')).toMatchObject({ inFlight: 1, demand: { consumer: 0, producer: 0 }, buffered: { items: 5 } });
    expect(route(s, 'bench.sink')).toMatchObject({ inFlight: 1, demand: { consumer: 10, producer: 1 } });

    // 200 items flow, then nothing: some snapshot shows the rate, a later one shows it back at zero.
    source.request(200);
    await src.received(205);
    const rates: number[] = [];
    for (let i = 0; i < 3; i++) rates.push(route(await next(), 'bench.source').ratePerSec.toRequester);
    expect(Math.max(...rates)).toBeGreaterThan(0);
    expect(rates.at(-1)).toBe(0);

    await expect(client.requestResponse('no.such.route')).rejects.toMatchObject({ code: 'NO_ROUTE' });
    await expect(client.requestResponse('bench.stats', { id: 'missing' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    s = await next();
    expect(route(s, '(unknown)').errors).toEqual({ NO_ROUTE: 1 });
    expect(route(s, 'bench.stats').errors).toEqual({ INVALID_ARGUMENT: 1 });

    sink.cancel();
    source.cancel();
    stats.cancel();
  });

  it('refuses a bad interval with INVALID_ARGUMENT', async () => {
    const gw = await h.gateway();
    const client = await h.client(gw.url);
    for (const data of [{ intervalMs: 50 }, { intervalMs: 60_001 }, { intervalMs: 'fast' }, [1]]) {
      await expect(firstValue(client.requestStream('sluice.stats', data))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });
});

function firstValue<T>(o: import('rxjs').Observable<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const sub = o.subscribe({
      next: (v) => {
        sub.unsubscribe();
        resolve(v);
      },
      error: reject,
    });
  });
}
