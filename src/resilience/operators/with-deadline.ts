/**
 * `withDeadline(ms)`: the whole stream must complete within `ms` of
 * subscription, or it errors with SluiceError DEADLINE_EXCEEDED and the
 * source is unsubscribed (cancelled) at that moment. Unlike rxjs `timeout`,
 * which bounds the gaps between items, this bounds the total, which is what a
 * caller's deadline means. Isomorphic.
 */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { SluiceError } from '../../errors.js';

/** The longest delay a JavaScript timer takes (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * @param ms time allowed in ms, from subscription to completion. A value <= 0
 *   (an already expired deadline) errors at once without subscribing to the source.
 * @param scheduler schedules the deadline. Default `asyncScheduler`.
 */
export function withDeadline<T>(ms: number, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<T> {
  if (Number.isNaN(ms)) throw new RangeError('withDeadline: ms must be a number, got NaN');
  return (source) =>
    new Observable<T>((subscriber) => {
      const expired = () => new SluiceError('DEADLINE_EXCEEDED', `deadline of ${ms} ms passed before the stream completed`, { details: { deadlineMs: ms } });
      if (ms <= 0) {
        subscriber.error(expired());
        return;
      }
      // Erroring the subscriber runs the teardown below, which unsubscribes the source.
      // Timers take at most 2^31-1 ms (longer ones fire at once in Node), so a longer deadline is armed in steps.
      let timer: Subscription;
      const arm = (remaining: number): Subscription =>
        scheduler.schedule(() => {
          if (remaining > MAX_TIMER_MS) timer = arm(remaining - MAX_TIMER_MS);
          else subscriber.error(expired());
        }, Math.min(remaining, MAX_TIMER_MS));
      timer = arm(ms);
      const subscription = source.subscribe({
        next: (value) => subscriber.next(value),
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        timer.unsubscribe();
        subscription.unsubscribe();
      };
    });
}
