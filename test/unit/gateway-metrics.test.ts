import { describe, expect, it } from 'vitest';
import client from 'prom-client';
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

describe('GatewayMetrics: request duration histogram', () => {
  const name = 'sluice_request_duration_seconds';
  const observations: Array<[string, string, number]> = [
    ['orders.get', 'response', 0.0004],
    ['orders.get', 'response', 0.0005],
    ['orders.get', 'response', 0.003],
    ['orders.get', 'response', 42],
    ['orders.watch', 'stream', 0.2],
    ['orders.get', 'stream', 1],
  ];

  it('writes the same exposition as a prom-client histogram fed the same observations', async () => {
    const m = new GatewayMetrics(source, { defaultMetrics: false });
    const reference = new client.Registry();
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    const h = new client.Histogram({ name, help: 'x', labelNames: ['route', 'model'], buckets, registers: [reference] });
    for (const [route, model, seconds] of observations) {
      m.observe(route, model, seconds);
      h.observe({ route, model }, seconds);
    }
    const ours = (await m.text()).split('\n').filter((l) => l.startsWith(name));
    const theirs = (await reference.metrics()).split('\n').filter((l) => l.startsWith(name));
    expect(ours.sort()).toEqual(theirs.sort());
    expect(ours).toContain(`${name}_bucket{le="0.0005",route="orders.get",model="response"} 2`);
    expect(ours).toContain(`${name}_count{route="orders.get",model="response"} 4`);
    expect(await m.text()).toContain(`# TYPE ${name} histogram`);
  });

  it('ignores non-finite values and, past 10,000 routes ("a" and 9,999 more), observes new ones under (other)', async () => {
    const m = new GatewayMetrics(source, { defaultMetrics: false });
    m.observe('a', 'response', Number.NaN);
    m.observe('a', 'response', Infinity);
    for (let i = 0; i < 9_999; i++) m.observe(`r${i}`, 'response', 0.001);
    m.observe('late.one', 'response', 0.001);
    m.observe('late.two', 'response', 0.001);
    const text = await m.text();
    expect(text).toContain(`${name}_count{route="a",model="response"} 0`);
    expect(text).toContain(`${name}_count{route="(other)",model="response"} 2`);
    expect(text).not.toContain('late.one');
  });
});
