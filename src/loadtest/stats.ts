/**
 * The live counters of one run, shared by the driver (which records), the
 * progress line (which reads and resets the interval histogram) and the
 * final report. Plain fields: recording an answer costs a few additions and
 * one histogram write.
 */
import type { Clock } from './clock.js';
import { ErrorCounts } from './error-counts.js';
import { LatencyHistogram } from './histogram.js';

/** What the progress line shows, for one interval. */
export interface ProgressSnapshot {
  /** Ms since the run started. */
  readonly elapsedMs: number;
  /** Successful answers per second over the last interval. */
  readonly rate: number;
  /** Latency percentiles of the last interval, ms (0 when nothing completed). */
  readonly p50: number;
  readonly p99: number;
  readonly inFlight: number;
  readonly completed: number;
  readonly errors: Readonly<Record<string, number>>;
}

/** What bounds a run and where it records, common to every driver. */
export interface RunBounds {
  /** Stop sending after this many requests or items. */
  count: number;
  /** Stop sending after this long. */
  durationMs: number;
  /** After sending stops, wait at most this long for answers. */
  drainMs: number;
  clock: Clock;
  stats: RunStats;
  signal?: AbortSignal;
}

export class RunStats {
  /** Every successful answer's latency. */
  readonly latency = new LatencyHistogram();
  /** Latencies since the last progress tick. */
  private readonly interval = new LatencyHistogram();
  readonly errors = new ErrorCounts();
  /** Requests or items sent. */
  sent = 0;
  /** Successful answers (responses, acks). */
  completed = 0;
  /** Successful answers that arrived while sends were still being made (for steady-state throughput). */
  completedWhileSending = 0;
  /** Sent and neither answered nor failed yet. */
  inFlight = 0;
  /** False once the driver stopped sending (count or duration reached). */
  sending = true;

  private lastTickAt: number;
  private lastTickCompleted = 0;

  constructor(readonly startedAt: number) {
    this.lastTickAt = startedAt;
  }

  /** One request or item left. */
  onSent(): void {
    this.sent++;
    this.inFlight++;
  }

  /** One answer arrived `latencyMs` after its send (or its scheduled send, open loop). */
  onSuccess(latencyMs: number): void {
    this.inFlight--;
    this.completed++;
    if (this.sending) this.completedWhileSending++;
    this.latency.record(latencyMs);
    this.interval.record(latencyMs);
  }

  /** One sent request or item failed with `code`. */
  onFailure(code: string): void {
    this.inFlight--;
    this.errors.add(code);
  }

  /** An attempt that was never sent (counted by code, not in flight). */
  onRefused(code: string): void {
    this.errors.add(code);
  }

  /** The snapshot since the previous tick; starts a new interval. */
  tick(now: number): ProgressSnapshot {
    const dt = Math.max(1e-3, now - this.lastTickAt);
    const snapshot: ProgressSnapshot = {
      elapsedMs: now - this.startedAt,
      rate: ((this.completed - this.lastTickCompleted) * 1000) / dt,
      p50: this.interval.percentile(50),
      p99: this.interval.percentile(99),
      inFlight: this.inFlight,
      completed: this.completed,
      errors: this.errors.toJSON(),
    };
    this.interval.reset();
    this.lastTickAt = now;
    this.lastTickCompleted = this.completed;
    return snapshot;
  }
}
