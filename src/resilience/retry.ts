/**
 * The one retry decision Sluice makes everywhere it retries (the gateway's
 * forwarding, the `retryWithBackoff` operator, the client's reconnect): after
 * a failed attempt, either "again after this full-jitter backoff" or "stop,
 * and why". Attempts are bounded, a retry budget (when given) is spent only
 * on a retry that will happen, and a retry that could not start before the
 * deadline is not made. What counts as retryable (codes, emitted items,
 * idempotence) stays with each caller. Isomorphic.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';

export interface RetrySchedule extends BackoffOptions {
  /** Attempts in total, the first included (1: never retry); Infinity: unbounded. */
  maxAttempts: number;
}

export interface RetryLimits {
  /** Spent once per retry made; a refusal stops the retries. */
  budget?: { tryWithdraw(): boolean };
  /** Time left before the caller's deadline, in ms; a backoff that reaches it stops the retries. */
  remainingMs?: number | undefined;
  /** The backoff step of this retry. Default `attempts - 1` (the first retry waits up to `initialDelayMs`). */
  step?: number;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
}

export type RetryVerdict = { retry: true; delayMs: number } | { retry: false; why: 'attempts' | 'deadline' | 'budget' };

/**
 * After `attempts` attempts (>= 1) that all failed: the delay before the
 * next, or why there is none. Checks the attempts, then the deadline, then
 * the budget (last, so it is withdrawn only for a retry that happens).
 */
export function nextRetry(attempts: number, schedule: RetrySchedule, limits: RetryLimits = {}): RetryVerdict {
  if (attempts >= schedule.maxAttempts) return { retry: false, why: 'attempts' };
  const delayMs = backoffDelay(limits.step ?? attempts - 1, schedule, limits.random);
  if (limits.remainingMs !== undefined && limits.remainingMs <= delayMs) return { retry: false, why: 'deadline' };
  if (limits.budget && !limits.budget.tryWithdraw()) return { retry: false, why: 'budget' };
  return { retry: true, delayMs };
}
