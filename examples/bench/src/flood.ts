/**
 * Flood: producers offering 10x what the consumers can take, for 60 s,
 * through the gateway. Producers push over request-channel to bench.sink,
 * whose consumers take one item per `delayMs` each; their input is pulled
 * only as demand arrives, so what they would push beyond it is held back at
 * the source, not queued in the gateway. Measured:
 *
 * - gateway RSS and heap over time (its own /metrics), which should stay flat;
 * - delivered items/s against the consumers' capacity, both the nominal one
 *   (consumers * 1000 / delayMs) and the one measured in the same run by
 *   driving the same sinks directly, without the gateway (the baseline);
 * - exactly-once: every accepted item acknowledged once (bench.sink acks
 *   carry the item's seq).
 */
import { SluiceClient } from '../../../src/client/client.js';
import { systemClock } from '../../../src/loadtest/clock.js';
import { runChannelLoad, type DeliveryCounts } from '../../../src/loadtest/channels.js';
import type { LatencySummary } from '../../../src/loadtest/histogram.js';
import type { MemorySample, MemorySummary } from '../../../src/loadtest/metrics-scraper.js';
import { loadtestDefaults } from '../../../src/loadtest/options.js';
import { runLoadtest } from '../../../src/loadtest/run.js';
import { RunStats } from '../../../src/loadtest/stats.js';
import { withBothSides } from './hop-cost.js';
import type { BenchContext } from './scenario.js';

export interface FloodOptions {
  producers: number;
  consumers: number;
  delayMs: number;
  /** Offered load as a multiple of the nominal capacity. */
  offeredFactor: number;
  durationS: number;
  /** Flood through the gateway before measuring (JIT, heap sizing), not reported. */
  warmupS: number;
  baselineS: number;
  size: number;
}

export function floodDefaults(quick: boolean): FloodOptions {
  return quick
    ? { producers: 4, consumers: 20, delayMs: 10, offeredFactor: 10, durationS: 10, warmupS: 2, baselineS: 3, size: 1024 }
    : { producers: 8, consumers: 40, delayMs: 10, offeredFactor: 10, durationS: 60, warmupS: 5, baselineS: 10, size: 1024 };
}

export interface FloodResult {
  readonly options: FloodOptions;
  /** consumers * 1000 / delayMs, items/s. */
  readonly nominalCapacity: number;
  /** Items/s offered by the producers. */
  readonly offered: number;
  /** Items/s the same consumers took when driven directly (no gateway), the baseline. */
  readonly directCapacity: number;
  /** Items/s acknowledged through the gateway while flooding. */
  readonly delivered: number;
  readonly latencyMs: LatencySummary;
  readonly delivery: DeliveryCounts;
  readonly errors: Readonly<Record<string, number>>;
  readonly memory: { readonly summary: MemorySummary; readonly samples: readonly MemorySample[] } | null;
  /** RSS change from the 10th second to the end (after the start-up transient). */
  readonly rssGrowthAfterWarm: number | null;
  /** Delivered items/s per progress interval, over time. */
  readonly deliveredSeries: ReadonlyArray<{ readonly t: number; readonly rate: number }>;
}

export async function runFlood(ctx: BenchContext, options: Partial<FloodOptions> = {}): Promise<FloodResult> {
  const o = { ...floodDefaults(ctx.quick), ...options };
  const nominalCapacity = (o.consumers * 1000) / o.delayMs;
  const offered = nominalCapacity * o.offeredFactor;
  return withBothSides(async ({ direct, gatewayUrl, adminUrl }) => {
    // Baseline: the same sinks, the same producer code, no gateway.
    const stats = new RunStats(systemClock.now());
    const base = await runChannelLoad({
      clients: [new SluiceClient({ current: direct })],
      route: 'bench.sink',
      consumers: o.consumers,
      open: { delayMs: o.delayMs },
      size: o.size,
      rate: offered,
      count: 1e9,
      durationMs: o.baselineS * 1000,
      drainMs: 10_000,
      clock: systemClock,
      stats,
    });
    const directCapacity = stats.completedWhileSending / (base.sendingMs / 1000);
    ctx.log(`direct (no gateway): ${Math.round(directCapacity)} items/s of ${nominalCapacity} nominal; exactly once: ${base.delivery.acked === base.delivery.sent && base.delivery.duplicates === 0}`);

    const shape = {
      ...loadtestDefaults,
      url: gatewayUrl,
      adminUrl,
      mode: 'channel' as const,
      route: 'bench.sink',
      producers: o.producers,
      consumers: o.consumers,
      consumerDelayMs: o.delayMs,
      rate: offered,
      count: 1e9,
      size: o.size,
      drainS: 15,
    };
    await runLoadtest({ ...shape, durationS: o.warmupS, adminUrl: null });
    const series: Array<{ t: number; rate: number }> = [];
    const report = await runLoadtest(
      { ...shape, durationS: o.durationS },
      {
        memoryIntervalMs: 1_000,
        progress: {
          tty: false,
          intervalMs: 1_000,
          onSnapshot: (s) => {
            series.push({ t: s.elapsedMs / 1000, rate: s.rate });
            if (Math.round(s.elapsedMs / 1000) % 10 === 0) ctx.log(`  ${Math.round(s.elapsedMs / 1000)} s: ${Math.round(s.rate)} items/s delivered, ${s.inFlight} in flight`);
          },
        },
      },
    );
    const mem = report.gatewayMemory.available ? { summary: report.gatewayMemory.summary, samples: report.gatewayMemory.samples } : null;
    const warm = mem?.samples.find((s) => s.t >= 10_000);
    return {
      options: o,
      nominalCapacity,
      offered,
      directCapacity,
      delivered: report.throughput,
      latencyMs: report.latencyMs,
      delivery: report.delivery!,
      errors: report.errors,
      memory: mem,
      rssGrowthAfterWarm: mem && warm ? mem.summary.rssEnd - warm.rss : null,
      deliveredSeries: series,
    };
  });
}
