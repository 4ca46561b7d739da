/**
 * Transport limit: the same ~100-byte JSON items over plain `ws` with no
 * RSocket, against Sluice, each both directly (producer -> consumer) and
 * through one hop (raw: a pass-through relay; Sluice: the gateway). The raw
 * side has no frames, no stream ids and no demand: it is bounded only by
 * socket backpressure, so it is the ceiling of what the transport carries.
 * Runs alternate between the configurations.
 */
import { measureRaw } from './peers/raw-ws.js';
import { measureStreams, withBothSides } from './hop-cost.js';
import { Processes, median } from './processes.js';
import type { BenchContext } from './scenario.js';

export interface TransportRow {
  /** e.g. `raw ws, direct`, `Sluice via gateway, prefetch 256`. */
  readonly name: string;
  readonly kind: 'raw' | 'sluice';
  readonly hop: boolean;
  /** Sluice only: consumer prefetch. */
  readonly prefetch: number | null;
  /** Messages (items) per second, median of the runs. */
  readonly rate: number;
  readonly samples: readonly number[];
}

export interface TransportResult {
  readonly items: number;
  readonly streams: number;
  readonly size: number;
  readonly runs: number;
  readonly rows: readonly TransportRow[];
}

export interface TransportOptions {
  items: number;
  streams: number;
  size: number;
  runs: number;
  prefetches: readonly number[];
}

export function transportDefaults(quick: boolean): TransportOptions {
  return quick ? { items: 25_000, streams: 4, size: 100, runs: 1, prefetches: [256, 1024] } : { items: 100_000, streams: 4, size: 100, runs: 4, prefetches: [256, 1024] };
}

export async function runTransportLimit(ctx: BenchContext, options: Partial<TransportOptions> = {}): Promise<TransportResult> {
  const o = { ...transportDefaults(ctx.quick), ...options };
  const processes = new Processes();
  try {
    const source = await processes.peer('raw-source');
    const relay = await processes.peer('raw-relay', ['--upstream', source.url]);
    const shape = { streams: o.streams, count: o.items, size: o.size };
    const rows = await withBothSides(async ({ gateway, direct }) => {
      const configs: Array<{ row: Omit<TransportRow, 'rate' | 'samples'>; measure: (items: number) => Promise<number> }> = [
        { row: { name: 'raw ws, direct', kind: 'raw', hop: false, prefetch: null }, measure: (items) => measureRaw(source.url, { ...shape, count: items }) },
        { row: { name: 'raw ws, through a relay', kind: 'raw', hop: true, prefetch: null }, measure: (items) => measureRaw(relay.url, { ...shape, count: items }) },
        ...o.prefetches.flatMap((prefetch) => [
          {
            row: { name: `Sluice direct, prefetch ${prefetch}`, kind: 'sluice' as const, hop: false, prefetch },
            measure: (items: number) => measureStreams(direct, { items, streams: o.streams, size: o.size, prefetch }),
          },
          {
            row: { name: `Sluice via gateway, prefetch ${prefetch}`, kind: 'sluice' as const, hop: true, prefetch },
            measure: (items: number) => measureStreams(gateway, { items, streams: o.streams, size: o.size, prefetch }),
          },
        ]),
      ];
      for (const c of configs) await c.measure(Math.min(o.items, 20_000));
      const samples = configs.map(() => [] as number[]);
      for (let r = 0; r < o.runs; r++) {
        // The order reverses every run, so that no configuration always goes first (or last): an even number of runs.
        const order = [...configs.entries()];
        for (const [i, c] of r % 2 === 0 ? order : order.reverse()) samples[i]!.push(await c.measure(o.items));
        ctx.log(`run ${r + 1}/${o.runs}: ${configs.map((c, i) => `${c.row.name} ${Math.round(samples[i]!.at(-1)!).toLocaleString('en-US')}/s`).join('; ')}`);
      }
      return configs.map((c, i) => ({ ...c.row, rate: median(samples[i]!), samples: samples[i]! }));
    });
    return { items: o.items, streams: o.streams, size: o.size, runs: o.runs, rows };
  } finally {
    await processes.stopAll();
  }
}
