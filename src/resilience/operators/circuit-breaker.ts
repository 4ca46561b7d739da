/**
 * `circuitBreaker(breaker)`: guards each subscription with a CircuitBreaker.
 * Isomorphic.
 *
 * - At subscribe: if the breaker does not admit the call, errors at once with
 *   SluiceError CIRCUIT_OPEN (details.retryAfterMs = ms until probes are let
 *   through) and never subscribes to the source.
 * - Complete: `onSuccess(duration)`; error: `onFailure(duration)`, duration
 *   in ms from subscription, so a stream is judged as one call.
 * - Unsubscribed before either: `release()`, neither success nor failure
 *   (a cancelled call says nothing about the dependency's health).
 *
 * Every error counts as a failure; filter errors out before this operator if
 * some (a caller's INVALID_ARGUMENT) should not open the breaker.
 */
import { Observable, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { SluiceError } from '../../errors.js';
import type { CircuitBreaker } from '../circuit-breaker.js';

/**
 * @param breaker shared by every subscription (and usually by other callers of the same route).
 * @param scheduler measures call durations with `scheduler.now()`. Default: the breaker's own clock.
 */
export function circuitBreaker<T>(breaker: CircuitBreaker, scheduler?: SchedulerLike): MonoTypeOperatorFunction<T> {
  const now = scheduler ? () => scheduler.now() : breaker.clock;
  return (source) =>
    new Observable<T>((subscriber) => {
      if (!breaker.tryAcquire()) {
        subscriber.error(rejection(breaker));
        return;
      }
      const started = now();
      let ended = false;
      const subscription = source.subscribe({
        next: (value) => subscriber.next(value),
        error: (err: unknown) => {
          ended = true;
          breaker.onFailure(now() - started);
          subscriber.error(err);
        },
        complete: () => {
          ended = true;
          breaker.onSuccess(now() - started);
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        if (!ended) {
          ended = true;
          breaker.release();
        }
      };
    });
}

function rejection(breaker: CircuitBreaker): SluiceError {
  const retryAfterMs = breaker.remainingOpenMs();
  const message =
    breaker.state === 'open'
      ? `circuit breaker open; retry after ${retryAfterMs} ms`
      : `circuit breaker half-open and all ${breaker.options.halfOpenMaxCalls} probe calls are taken; retry later`;
  return new SluiceError('CIRCUIT_OPEN', message, { details: { retryAfterMs } });
}
