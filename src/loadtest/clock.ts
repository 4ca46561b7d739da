/**
 * Time for the load tester, behind an interface so rate control and
 * reporting can be tested with a fake clock (no real waiting, no absolute
 * times asserted).
 */
import { setTimeout as sleepFor } from 'node:timers/promises';

export interface Clock {
  /** Monotonic milliseconds (fractions allowed). */
  now(): number;
  /** Resolves after `ms` (at least one timer tick); rejects with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()` and timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleepFor(Math.max(0, ms), undefined, signal ? { signal } : undefined),
};
