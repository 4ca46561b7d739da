import { describe, expect, it } from 'vitest';
import { streamTotals } from '../../src/broker/stream-totals.js';
import { GatewayMetrics, type MetricsSource } from '../../src/observability/metrics.js';
import type { Interaction } from '../../src/broker/forwarding.js';
import type { InteractionModel } from '../../src/rsocket/stream.js';

function interaction(route: string, model: InteractionModel, consumer: number, producer: number): Interaction {
  return {
    route,
    model,
    instance: undefined,
    startedAt: 0,
    requester: { id: 'c', bufferedBytes: 0 },
    demand: () => ({ consumer, producer }),
    held: () => ({ items: 0, bytes: 0 }),
    averageItemBytes: () => 0,
  };
}

describe('streamTotals', () => {
  it('sums interactions and their demand into one row per route and model', () => {
    const live = new Set([
      interaction('a.watch', 'stream', 3, 1),
      interaction('a.watch', 'stream', 0x7fffffff, 1),
      interaction('a.watch', 'channel', 2, 2),
      interaction('b.get', 'response', 1, 0),
      interaction('a.watch', 'stream', 0, 0),
    ]);
    expect(streamTotals(live)).toEqual([
      { route: 'a.watch', model: 'stream', count: 3, consumerDemand: 3 + 0x7fffffff, producerDemand: 2 },
      { route: 'a.watch', model: 'channel', count: 1, consumerDemand: 2, producerDemand: 2 },
      { route: 'b.get', model: 'response', count: 1, consumerDemand: 1, producerDemand: 0 },
    ]);
  });

  it('has no rows when nothing is in flight', () => {
    expect(streamTotals(new Set())).toEqual([]);
  });

  it('feeds the active-streams and demand gauges of a scrape, one series per route and model (and side)', async () => {
    const live = new Set<Interaction>();
    for (let i = 0; i < 1_000; i++) live.add(interaction('a.watch', 'stream', 1, 1));
    live.add(interaction('a.watch', 'channel', 4, 0));
    const source: MetricsSource = {
      connections: () => ({ client: 0, service: 0 }),
      instances: () => new Map(),
      streams: () => streamTotals(live),
      bufferedBytes: () => 0,
      prefetchHeldBytes: () => 0,
    };
    const text = await new GatewayMetrics(source, { defaultMetrics: false }).text();
    const lines = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`)).sort();
    expect(lines('sluice_streams_active')).toEqual(['sluice_streams_active{route="a.watch",model="channel"} 1', 'sluice_streams_active{route="a.watch",model="stream"} 1000']);
    expect(lines('sluice_demand_outstanding')).toEqual(['sluice_demand_outstanding{route="a.watch",side="consumer"} 1004', 'sluice_demand_outstanding{route="a.watch",side="producer"} 1000']);
  });
});
