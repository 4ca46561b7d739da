/**
 * `retryWithBackoff(options)`: resubscribes to a source that failed with a
 * retryable error, after a full-jitter exponential backoff (the shared retry
 * rule, nextRetry).
 * Isomorphic.
 *
 * Safe by construction for streams: once the source has emitted a value the
 * error is passed on, never retried, because resubscribing would deliver
 * those values twice. Retries stop at the first of:
 * - `maxAttempts` subscriptions in total (the first one included);
 * - an error `shouldRetry` rejects;
 * - the RetryBudget refusing a withdrawal (the route already retries too much).
 * The error passed on is the source's last error, unchanged.
 */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { SluiceError, type ErrorCode } from '../../errors.js';
import { defaultBackoff } from '../backoff.js';
import { nextRetry } from '../retry.js';
import type { RetryBudget } from '../retry-budget.js';

export interface RetryWithBackoffOptions {
  /** Subscriptions in total, the first one included (1 = never retry). Integer >= 1. */
  maxAttempts: number;
  /** Delay ceiling before the first retry, ms. Default 100. */
  initialDelayMs?: number;
  /** Largest delay ceiling, ms. Default 5000. */
  maxDelayMs?: number;
  /** Ceiling growth per retry. Default 2. */
  multiplier?: number;
  /**
   * Whether an error (plain errors arrive as INTERNAL) is worth retrying.
   * Default: UNAVAILABLE, OVERLOADED, INTERNAL and CIRCUIT_OPEN (transient or
   * another instance may serve); never INVALID_ARGUMENT (it will fail again)
   * or DEADLINE_EXCEEDED (the caller has stopped waiting).
   */
  shouldRetry?: (err: SluiceError) => boolean;
  /** Shared per route: the first subscription records a request, each retry withdraws. */
  budget?: RetryBudget;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Schedules the delays. Default asyncScheduler. */
  scheduler?: SchedulerLike;
}

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNAVAILABLE', 'OVERLOADED', 'INTERNAL', 'CIRCUIT_OPEN']);

/** The default retry predicate (see RetryWithBackoffOptions.shouldRetry). */
export function isRetryable(err: SluiceError): boolean {
  return RETRYABLE.has(err.code);
}

export function retryWithBackoff<T>(options: RetryWithBackoffOptions): MonoTypeOperatorFunction<T> {
  const { maxAttempts, budget, shouldRetry = isRetryable, random = Math.random, scheduler = asyncScheduler } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`retryWithBackoff: maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  const schedule = {
    maxAttempts,
    initialDelayMs: options.initialDelayMs ?? defaultBackoff.initialDelayMs,
    maxDelayMs: options.maxDelayMs ?? defaultBackoff.maxDelayMs,
    multiplier: options.multiplier ?? defaultBackoff.multiplier,
  };
  return (source) =>
    new Observable<T>((subscriber) => {
      let attempts = 0;
      let emitted = false;
      let current: Subscription | undefined;
      let delay: Subscription | undefined;
      budget?.recordRequest();

      const attempt = () => {
        delay = undefined;
        attempts++;
        current = source.subscribe({
          next: (value) => {
            emitted = true;
            subscriber.next(value);
          },
          error: (err: unknown) => {
            // Cheapest checks first: the budget is withdrawn only for a retry that will happen.
            const final = emitted || attempts >= maxAttempts || !shouldRetry(SluiceError.from(err));
            const verdict = final ? undefined : nextRetry(attempts, schedule, { random, ...(budget ? { budget } : {}) });
            if (!verdict?.retry) {
              subscriber.error(err);
              return;
            }
            delay = scheduler.schedule(attempt, verdict.delayMs);
          },
          complete: () => subscriber.complete(),
        });
      };
      attempt();
      return () => {
        delay?.unsubscribe();
        current?.unsubscribe();
      };
    });
}
