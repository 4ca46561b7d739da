import { Subject, defer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { Bulkhead } from '../../src/resilience/bulkhead.js';
import { bulkhead } from '../../src/resilience/operators/bulkhead.js';

function scheduler() {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const full = new SluiceError('OVERLOADED', 'bulkhead full: 1 calls running (maxConcurrent=1) and no wait allowed');

describe('bulkhead operator (marbles, free slots)', () => {
  it('holds a slot from subscription to completion', () => {
    const ts = scheduler();
    const bh = new Bulkhead({ maxConcurrent: 1 });
    const active: number[] = [];
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b|');
      const guarded = source.pipe(bulkhead(bh));
      ts.schedule(() => active.push(bh.active), 2);
      ts.schedule(() => active.push(bh.active), 5);
      expectObservable(guarded).toBe('-a-b|');
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
    expect(active).toEqual([1, 0]);
  });

  it('with no free slot and no wait (the default): OVERLOADED at once, the source never subscribed', () => {
    const ts = scheduler();
    const bh = new Bulkhead({ maxConcurrent: 1 });
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const first = cold('---a|');
      const second = cold('a|');
      expectObservable(first.pipe(bulkhead(bh))).toBe('---a|');
      expectObservable(second.pipe(bulkhead(bh)), '-^').toBe('-#', undefined, full);
      expectSubscriptions(first.subscriptions).toBe('^---!');
      expectSubscriptions(second.subscriptions).toBe([]);
    });
    expect(bh.counters.rejected).toBe(1);
  });

  it('releases on error, and before the error is passed on (a downstream retry can take the slot)', () => {
    const ts = scheduler();
    const bh = new Bulkhead({ maxConcurrent: 1 });
    const err = new SluiceError('UNAVAILABLE', 'gone');
    let activeAtError = -1;
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--#', undefined, err);
      const guarded = source.pipe(bulkhead(bh));
      guarded.subscribe({ error: () => (activeAtError = bh.active) });
      expectSubscriptions(source.subscriptions).toBe('^-!');
      expectObservable(cold('---a|').pipe(bulkhead(bh)), '--^').toBe('-----a|'); // the slot is free again at 2
    });
    expect(activeAtError).toBe(0);
    expect(bh.active).toBe(0);
  });

  it('releases on unsubscribe', () => {
    const ts = scheduler();
    const bh = new Bulkhead({ maxConcurrent: 1 });
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-d|');
      expectObservable(source.pipe(bulkhead(bh)), '^--!').toBe('-a-');
      expectSubscriptions(source.subscriptions).toBe('^--!');
      const next = cold('a|');
      expectObservable(next.pipe(bulkhead(bh)), '---^').toBe('---a|');
      expectSubscriptions(next.subscriptions).toBe('---^!');
    });
    expect(bh.active).toBe(0);
  });
});

describe('bulkhead operator (fake timers, waiting for a slot)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** An Observable that records when it is subscribed and unsubscribed. */
  function probe(): { source: Observable<number>; subject: Subject<number>; log: string[] } {
    const subject = new Subject<number>();
    const log: string[] = [];
    const source = defer(() => {
      log.push('subscribe');
      return subject;
    });
    return { source, subject, log };
  }

  function tracked(source: Observable<number>) {
    const events: unknown[] = [];
    const subscription = source.subscribe({ next: (v) => events.push(v), error: (e: unknown) => events.push(e), complete: () => events.push('complete') });
    return { events, subscription };
  }

  it('waits in the queue and subscribes to the source once a slot frees', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const a = probe();
    const b = probe();
    const first = tracked(a.source.pipe(bulkhead(bh, 1_000)));
    const second = tracked(b.source.pipe(bulkhead(bh, 1_000)));
    expect(b.log).toEqual([]); // waiting: not subscribed
    expect(bh.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    a.subject.complete();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.log).toEqual(['subscribe']);
    expect([bh.active, bh.queued]).toEqual([1, 0]);
    b.subject.next(7);
    b.subject.complete();
    expect(first.events).toEqual(['complete']);
    expect(second.events).toEqual([7, 'complete']);
    expect(bh.active).toBe(0);
  });

  it('errors with OVERLOADED when the wait runs out, the source never subscribed', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const a = probe();
    const b = probe();
    tracked(a.source.pipe(bulkhead(bh)));
    const second = tracked(b.source.pipe(bulkhead(bh, 100)));
    await vi.advanceTimersByTimeAsync(100);
    expect(second.events).toEqual([new SluiceError('OVERLOADED', 'bulkhead: no slot freed within 100 ms (maxConcurrent=1, maxQueue=5)')]);
    expect(b.log).toEqual([]);
    expect(bh.counters.timedOut).toBe(1);
  });

  it('errors with OVERLOADED when the queue is full', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    tracked(probe().source.pipe(bulkhead(bh)));
    tracked(probe().source.pipe(bulkhead(bh, 1_000)));
    const third = tracked(probe().source.pipe(bulkhead(bh, 1_000)));
    await vi.advanceTimersByTimeAsync(0);
    expect(third.events).toEqual([new SluiceError('OVERLOADED', 'bulkhead full: 1 calls running (maxConcurrent=1) and 1 waiting (maxQueue=1)')]);
  });

  it('an unsubscribe while waiting leaves the queue and clears the wait timer', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const a = probe();
    const b = probe();
    tracked(a.source.pipe(bulkhead(bh)));
    const second = tracked(b.source.pipe(bulkhead(bh, 1_000)));
    expect([bh.queued, vi.getTimerCount()]).toEqual([1, 1]);
    second.subscription.unsubscribe();
    await vi.advanceTimersByTimeAsync(0);
    expect([bh.queued, vi.getTimerCount()]).toEqual([0, 0]);
    a.subject.complete();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(b.log).toEqual([]);
    expect(second.events).toEqual([]);
    expect(bh.active).toBe(0);
  });

  it('a slot granted just as the subscriber leaves is given straight back', async () => {
    const bh = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const a = probe();
    const b = probe();
    tracked(a.source.pipe(bulkhead(bh)));
    const second = tracked(b.source.pipe(bulkhead(bh, 1_000)));
    a.subject.complete(); // grants the waiter synchronously; its promise settles later
    second.subscription.unsubscribe();
    await vi.advanceTimersByTimeAsync(0);
    expect(b.log).toEqual([]);
    expect(bh.active).toBe(0);
  });
});
