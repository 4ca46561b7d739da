/** The SVG charts of a bench run (docs/bench/*.svg), each drawn from measured results only. */
import type { BenchResults } from './results.js';
import { lineChart } from './svg-chart.js';

export type Charts = Map<string, { readonly title: string; readonly svg: string }>;

const MiB = 2 ** 20;

export function benchCharts(r: BenchResults): Charts {
  const charts: Charts = new Map();
  const add = (file: string, title: string, svg: string) => charts.set(file, { title, svg });

  if (r.hopCost?.ok && r.hopCost.result.points.length > 1) {
    const pts = r.hopCost.result.points;
    const title = 'Hop cost: bench.source items/s by consumer prefetch';
    add(
      'hop-cost.svg',
      title,
      lineChart({
        title,
        subtitle: `${r.hopCost.result.streams} streams of ${r.hopCost.result.size}-byte items; median of ${r.hopCost.result.runs} runs`,
        xLabel: 'consumer prefetch (items)',
        yLabel: 'items/s',
        series: [
          { name: 'direct (no gateway)', points: pts.map((p) => [p.prefetch, p.direct]), dashed: true },
          { name: 'through the gateway', points: pts.map((p) => [p.prefetch, p.gateway]) },
        ],
      }),
    );
  }

  if (r.nats?.ok && r.nats.result.sweep.sluice.length > 1) {
    const s = r.nats.result.sweep;
    const title = 'Request-reply p99 against offered load';
    add(
      'rr-p99-vs-load.svg',
      title,
      lineChart({
        title,
        subtitle: `open loop, ~100-byte JSON, ${s.durationS} s per point; same rates for both`,
        xLabel: 'offered load (requests/s)',
        yLabel: 'latency (ms)',
        logY: true,
        series: [
          { name: 'Sluice p99', points: s.sluice.map((p) => [p.offered, p.p99]) },
          ...(s.nats ? [{ name: 'NATS p99', points: s.nats.map((p): [number, number] => [p.offered, p.p99]) }] : []),
          { name: 'Sluice p50', points: s.sluice.map((p) => [p.offered, p.p50]), dashed: true },
          ...(s.nats ? [{ name: 'NATS p50', points: s.nats.map((p): [number, number] => [p.offered, p.p50]), dashed: true }] : []),
        ],
      }),
    );
  }

  if (r.syncChain?.ok && r.syncChain.result.points.length > 0) {
    const c = r.syncChain.result;
    const measured = c.points.filter((p) => p.sluice.available);
    const conditions = `inventory ${c.options.inventoryLatencyMs} ms and ${Math.round(c.options.inventoryFailureRate * 100)}% failures`;
    if (c.points.length > 1) {
      const title = 'Checkout p99 against offered load: Sluice vs the synchronous chain';
      add(
        'sync-chain-p99.svg',
        title,
        lineChart({
          title,
          subtitle: `open loop, ${c.options.durationS} s per rate, ${conditions}`,
          xLabel: 'orders/s offered',
          yLabel: 'p99 latency (ms)',
          logY: true,
          series: [
            { name: 'HTTP chain (order -> payment -> inventory)', points: c.points.map((p) => [p.rate, p.http.p99]) },
            ...(measured.length ? [{ name: 'Sluice checkout.place', points: measured.map((p): [number, number] => [p.rate, p.sluice.available ? p.sluice.p99 : 0]) }] : []),
          ],
        }),
      );
    }
    if (measured.length > 0) {
      const confirmedTitle = 'Orders confirmed per second against orders offered';
      add(
        'sync-chain-confirmed.svg',
        confirmedTitle,
        lineChart({
          title: confirmedTitle,
          subtitle: `open loop, ${c.options.durationS} s per rate, ${conditions}; confirmations until the drain ended, over the sending time`,
          xLabel: 'orders/s offered',
          yLabel: 'orders/s confirmed',
          series: [
            { name: 'offered', points: c.points.map((p) => [p.rate, p.rate]), dashed: true },
            { name: 'HTTP chain: 200 answers', points: c.points.map((p) => [p.rate, p.http.throughput]) },
            { name: 'Sluice: CONFIRMED', points: measured.map((p): [number, number] => [p.rate, p.sluice.available ? p.sluice.confirmedPerSec : 0]) },
          ],
        }),
      );
      const last = measured.at(-1)!;
      if (last.sluice.available) {
        const backlogTitle = 'Backlog over time: orders accepted and not yet finished';
        add(
          'sync-chain-backlog.svg',
          backlogTitle,
          lineChart({
            title: backlogTitle,
            subtitle: `${last.rate} orders/s for ${c.options.durationS} s, then the drain; ${conditions}`,
            xLabel: 'time (s)',
            yLabel: 'orders',
            series: [
              { name: 'Sluice: orders PENDING (orders.stats)', points: last.sluice.backlog.map((x): [number, number] => [x.t, x.pending]) },
              { name: 'HTTP chain: requests pending (3 services)', points: last.http.series.map((x) => [x.t, x.pending]) },
            ],
          }),
        );
      }
    }
    const top = c.points.at(-1)!;
    const title = 'Synchronous chain: requests held open while inventory is slow';
    add(
      'sync-chain-pending.svg',
      title,
      lineChart({
        title,
        subtitle: `${top.rate} orders/s, ${conditions}`,
        xLabel: 'time (s)',
        yLabel: 'open requests / interactions',
        series: [
          { name: 'HTTP chain: pending requests (3 services)', points: top.http.series.map((x) => [x.t, x.pending]) },
          { name: 'HTTP chain: open sockets', points: top.http.series.map((x) => [x.t, x.sockets]), dashed: true },
          ...(top.sluice.available ? [{ name: 'Sluice gateway: interactions in flight', points: top.sluice.series.map((x): [number, number] => [x.t, x.pending]) }] : []),
        ],
      }),
    );
  }

  if (r.flood?.ok && r.flood.result.memory) {
    const f = r.flood.result;
    const mem = f.memory!;
    const title = `Gateway memory under flood (${f.options.offeredFactor}x the consumers' capacity)`;
    add(
      'flood-memory.svg',
      title,
      lineChart({
        title,
        subtitle: `${f.options.producers} producer connections, ${f.options.consumers} consumers at ${f.options.delayMs} ms/item, ${f.options.size}-byte items, ${f.options.durationS} s`,
        xLabel: 'time (s)',
        yLabel: 'MiB',
        yMin: 0,
        series: [
          { name: 'gateway RSS', points: mem.samples.map((s) => [s.t / 1000, s.rss / MiB]) },
          { name: 'gateway heap used', points: mem.samples.map((s) => [s.t / 1000, s.heapUsed / MiB]), dashed: true },
        ],
        lines: [{ y: (mem.summary.rssStart + 50e6) / MiB, label: 'start + 50 MB (target ceiling)' }],
      }),
    );
    const title2 = 'Delivered items/s under flood';
    add(
      'flood-throughput.svg',
      title2,
      lineChart({
        title: title2,
        subtitle: `offered ${Math.round(f.offered).toLocaleString('en-US')} items/s; lines: the consumers' capacity`,
        xLabel: 'time (s)',
        yLabel: 'items/s',
        yMin: 0,
        series: [{ name: 'delivered through the gateway', points: f.deliveredSeries.map((p) => [p.t, p.rate]) }],
        lines: [
          { y: f.nominalCapacity, label: `nominal capacity ${Math.round(f.nominalCapacity)}/s` },
          { y: f.directCapacity, label: `measured directly ${Math.round(f.directCapacity)}/s` },
        ],
      }),
    );
  }

  if (r.scale?.ok) {
    const s = r.scale.result;
    const conns = s.series.filter((p) => p.streams === 0);
    const streams = s.series.filter((p) => p.connections === s.options.connections);
    const title = 'Gateway memory as connections, then streams, open';
    add(
      'scale-memory.svg',
      title,
      lineChart({
        title,
        subtitle: `${s.options.connections} connections, then ${s.options.streams} streams over them (x: connections + streams open)`,
        xLabel: 'connections + streams open',
        yLabel: 'MiB',
        yMin: 0,
        series: [
          { name: 'RSS', points: [...conns, ...streams.slice(1)].map((p) => [p.connections + p.streams, p.rss / MiB]) },
          { name: 'heap used', points: [...conns, ...streams.slice(1)].map((p) => [p.connections + p.streams, p.heapUsed / MiB]), dashed: true },
        ],
        lines: [{ y: s.afterConnections.rss / MiB, label: `${s.options.connections} connections open, no streams` }],
      }),
    );
  }
  return charts;
}
