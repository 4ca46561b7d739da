import { describe, expect, it } from 'vitest';
import { GatewayMetrics, type MetricsSource } from '../../src/observability/metrics.js';

const source: MetricsSource = {
  connections: () => ({ client: 0, service: 0 }),
  instances: () => new Map(),
  streams: () => [],
  bufferedBytes: () => 0,
  prefetchHeldBytes: () => 0,
};

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

describe('GatewayMetrics: interactions started', () => {
  it('counts per route and model as plain numbers and reports them on each scrape, monotonically', async () => {
    const m = new GatewayMetrics(source, { defaultMetrics: false });
    for (let i = 0; i < 3; i++) m.started('orders.get', 'response');
    m.started('orders.watch', 'stream');
    expect(series(await m.text(), 'sluice_interactions_total').sort()).toEqual([
      'sluice_interactions_total{route="orders.get",model="response"} 3',
      'sluice_interactions_total{route="orders.watch",model="stream"} 1',
    ]);
    m.started('orders.get', 'response');
    m.started('orders.get', 'stream');
    expect(series(await m.text(), 'sluice_interactions_total').sort()).toEqual([
      'sluice_interactions_total{route="orders.get",model="response"} 4',
      'sluice_interactions_total{route="orders.get",model="stream"} 1',
      'sluice_interactions_total{route="orders.watch",model="stream"} 1',
    ]);
  });

  it('past 10,000 routes, new ones are counted under (other)', async () => {
    const m = new GatewayMetrics(source, { defaultMetrics: false });
    for (let i = 0; i < 10_000; i++) m.started(`r${i}`, 'response');
    m.started('late.one', 'response');
    m.started('late.two', 'response');
    const lines = series(await m.text(), 'sluice_interactions_total');
    expect(lines).toHaveLength(10_001);
    expect(lines).toContain('sluice_interactions_total{route="(other)",model="response"} 2');
  });
});
