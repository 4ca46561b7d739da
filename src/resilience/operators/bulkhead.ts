/**
 * `bulkhead(bh, waitMs)`: each subscription holds a Bulkhead slot from before
 * it subscribes to the source until the source terminates or is
 * unsubscribed. Isomorphic.
 *
 * A free slot is taken synchronously and the source subscribed at once. With
 * none free, the subscription waits in the bulkhead's FIFO queue for up to
 * `waitMs` (Bulkhead.acquire) and errors with SluiceError OVERLOADED when the
 * queue is full or the wait runs out. Unsubscribing while waiting leaves the
 * queue at once. The slot is released before the terminal signal is passed
 * on, so a downstream retry can take it again.
 */
import { Observable, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { SluiceError } from '../../errors.js';
import type { Bulkhead, Release } from '../bulkhead.js';

/**
 * @param bh shared by every subscription.
 * @param waitMs longest wait for a slot, in ms. Default 0: fail fast with
 *   OVERLOADED when no slot is free, which sheds load instead of queueing it.
 */
export function bulkhead<T>(bh: Bulkhead, waitMs = 0): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let release: Release | undefined;
      let subscription: Subscription | undefined;
      let abort: AbortController | undefined;
      const free = () => {
        const r = release;
        release = undefined;
        r?.();
      };
      const start = (slot: Release) => {
        release = slot;
        subscription = source.subscribe({
          next: (value) => subscriber.next(value),
          error: (err: unknown) => {
            free();
            subscriber.error(err);
          },
          complete: () => {
            free();
            subscriber.complete();
          },
        });
      };

      const slot = bh.tryAcquire();
      if (slot) {
        start(slot);
      } else if (!(waitMs > 0)) {
        // Fail fast synchronously: no microtask between subscribe and OVERLOADED.
        try {
          start(bh.acquireNow());
        } catch (err) {
          subscriber.error(err);
        }
      } else {
        abort = new AbortController();
        bh.acquire(waitMs, abort.signal).then(
          (granted) => {
            if (subscriber.closed) granted();
            else start(granted);
          },
          (err: unknown) => {
            if (!subscriber.closed) subscriber.error(err);
          },
        );
      }
      return () => {
        abort?.abort(new SluiceError('CANCELED', 'unsubscribed while waiting for a bulkhead slot'));
        subscription?.unsubscribe();
        free();
      };
    });
}
