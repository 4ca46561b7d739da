/**
 * The garbage collector's pauses on the order service's thread, by kind:
 * what `orders.stats` reports next to the event-loop delay, so a run says
 * how much of that delay (and of the place tail, which is as long) was the
 * collector and how much was other work. A young-generation collection
 * (scavenge) stops the thread for as long as it copies the young objects
 * still alive, and under saga load those are every step call in flight; a
 * full collection's pause is its final, atomic part (marking runs
 * concurrently). Measured with `perf_hooks`' `gc` entries, each the pause's
 * duration as V8 reports it.
 *
 * Bounded: two fixed-size histograms, whatever the run's length.
 */
import { constants, createHistogram, PerformanceObserver, type RecordableHistogram } from 'node:perf_hooks';

/** Pauses of one kind since start, ms (to 0.1 ms). */
export interface PauseFigures {
  readonly count: number;
  readonly totalMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** What `orders.stats` reports (`process.gcPauseMs`). */
export interface GcPauseStats {
  /** Young-generation collections (scavenges). */
  readonly young: PauseFigures;
  /** Full collections (mark-compact): their atomic pauses. */
  readonly full: PauseFigures;
}

/** Watches this thread's collector pauses from `start()` until `stop()`. */
export class GcPauses {
  private readonly young = new Kind();
  private readonly full = new Kind();
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = ((entry as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.young.record(entry.duration);
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.full.record(entry.duration);
      // Incremental marking steps and weak-callback processing run inside other work; not pauses of their own.
    }
  });

  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.observer.disconnect();
  }

  get stats(): GcPauseStats {
    return { young: this.young.figures(), full: this.full.figures() };
  }
}

/** One kind of pause: a histogram of durations in microseconds, and their sum. */
class Kind {
  private readonly histogram: RecordableHistogram = createHistogram();
  private totalMs = 0;

  record(ms: number): void {
    this.totalMs += ms;
    // The histogram takes positive integers: microseconds, at least 1.
    this.histogram.record(Math.max(1, Math.round(ms * 1000)));
  }

  figures(): PauseFigures {
    const h = this.histogram;
    const count = h.count;
    const ms = (us: number) => Math.round(us / 100) / 10;
    return {
      count,
      totalMs: Math.round(this.totalMs * 10) / 10,
      p50: count ? ms(h.percentile(50)) : 0,
      p99: count ? ms(h.percentile(99)) : 0,
      max: count ? ms(h.max) : 0,
    };
  }
}
