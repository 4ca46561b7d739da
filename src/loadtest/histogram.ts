/**
 * Latency percentiles with HdrHistogram (hdr-histogram-js): constant memory
 * whatever the number of samples, 3 significant digits at every magnitude
 * from 1 microsecond to 1 hour. Values go in and come out in milliseconds.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** Percentiles of one histogram, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Longest latency recorded exactly, in microseconds (1 hour); longer values are clamped to it. */
export const MAX_TRACKABLE_US = 3_600_000_000;

export class LatencyHistogram {
  private readonly h: Histogram;
  /** Values clamped to the trackable range (over an hour). */
  clamped = 0;

  constructor() {
    this.h = build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_TRACKABLE_US, numberOfSignificantValueDigits: 3, autoResize: false });
  }

  /** Records one latency in milliseconds (negative values, from clock skew, count as 0). */
  record(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us >= 1)) us = 1; // HdrHistogram cannot hold 0; 1 µs is below anything a network call takes
    if (us > MAX_TRACKABLE_US) {
      us = MAX_TRACKABLE_US;
      this.clamped++;
    }
    this.h.recordValue(us);
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** The latency at percentile `p` (0-100) in ms; 0 when empty. */
  percentile(p: number): number {
    return this.count === 0 ? 0 : this.h.getValueAtPercentile(p) / 1000;
  }

  /** Adds every value of `other` to this one. */
  add(other: LatencyHistogram): void {
    this.h.add(other.h);
    this.clamped += other.clamped;
  }

  reset(): void {
    this.h.reset();
    this.clamped = 0;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    return {
      count: this.count,
      min: this.h.minNonZeroValue / 1000,
      mean: this.h.mean / 1000,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.h.maxValue / 1000,
    };
  }
}
