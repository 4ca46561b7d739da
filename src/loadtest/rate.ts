/**
 * Rate control for open-loop load: sends are scheduled at fixed times
 * (`start + i / rate`) whatever happened to earlier ones, so a slow system
 * under test cannot slow the offered load down, and latency can be measured
 * from the *scheduled* time of each send. Measuring from the actual send time
 * instead would hide queueing behind the load generator's own delays
 * ("coordinated omission").
 */
import type { Clock } from './clock.js';

/** Fixed-rate send times from a start time. Pure arithmetic: no timers. */
export class OpenLoopSchedule {
  /** Milliseconds between two sends. */
  readonly intervalMs: number;

  /**
   * @param ratePerSecond sends per second, > 0
   * @param startMs clock time of send 0
   */
  constructor(
    readonly ratePerSecond: number,
    readonly startMs: number,
  ) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new RangeError(`rate must be a positive number, got ${ratePerSecond}`);
    this.intervalMs = 1000 / ratePerSecond;
  }

  /** Clock time at which send `i` (0-based) is due. */
  at(i: number): number {
    return this.startMs + (i * 1000) / this.ratePerSecond;
  }

  /** How many sends are due at `now`: the count of `i` with `at(i) <= now`. */
  dueBy(now: number): number {
    if (now < this.startMs) return 0;
    // The epsilon absorbs floating-point error exactly on a slot boundary.
    return Math.floor(((now - this.startMs) * this.ratePerSecond) / 1000 + 1e-9) + 1;
  }

  /** How many sends fall strictly before `end`. */
  slotsBefore(end: number): number {
    if (end <= this.startMs) return 0;
    return Math.ceil(((end - this.startMs) * this.ratePerSecond) / 1000 - 1e-9);
  }
}

export interface OpenLoopOptions {
  /** Sends per second, > 0. */
  rate: number;
  /** Stop after this many sends. */
  count: number;
  /** Stop sending after this many milliseconds. */
  durationMs: number;
  clock: Clock;
  signal?: AbortSignal;
  /**
   * Starts send `i`, due at clock time `scheduledAt`. Called synchronously
   * and must not wait for the send to finish: an open loop never waits for
   * answers. When the process falls behind, several due sends fire at once.
   */
  fire(i: number, scheduledAt: number): void;
}

export type LoopEnd = 'count' | 'duration' | 'aborted';

/**
 * Fires sends on an open-loop schedule until `count` sends or `durationMs`
 * have passed, whichever comes first (or `signal` aborts). Bounded in both
 * count and time by construction.
 */
export async function runOpenLoop(o: OpenLoopOptions): Promise<{ fired: number; end: LoopEnd }> {
  const start = o.clock.now();
  const schedule = new OpenLoopSchedule(o.rate, start);
  const endAt = start + o.durationMs;
  const total = Math.min(o.count, schedule.slotsBefore(endAt));
  let fired = 0;
  for (;;) {
    if (o.signal?.aborted) return { fired, end: 'aborted' };
    const now = o.clock.now();
    const due = Math.min(total, schedule.dueBy(now));
    while (fired < due) {
      o.fire(fired, schedule.at(fired));
      fired++;
    }
    if (fired >= total) return { fired, end: fired >= o.count ? 'count' : 'duration' };
    try {
      await o.clock.sleep(schedule.at(fired) - now, o.signal);
    } catch {
      return { fired, end: 'aborted' };
    }
  }
}

/**
 * Splits a total rate across `parts` senders: each gets `rate / parts`,
 * with starts staggered by one total interval so their sends interleave
 * instead of landing together.
 */
export function splitSchedule(rate: number, parts: number, startMs: number): OpenLoopSchedule[] {
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`parts must be a positive integer, got ${parts}`);
  return Array.from({ length: parts }, (_, i) => new OpenLoopSchedule(rate / parts, startMs + (i * 1000) / rate));
}
