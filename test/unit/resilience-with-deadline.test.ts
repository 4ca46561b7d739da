import { NEVER, Subject, asyncScheduler } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { withDeadline } from '../../src/resilience/operators/with-deadline.js';

const expired = (ms: number) => new SluiceError('DEADLINE_EXCEEDED', `deadline of ${ms} ms passed before the stream completed`, { details: { deadlineMs: ms } });

function scheduler() {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('withDeadline (marbles)', () => {
  it('passes a stream that completes in time through untouched', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-|');
      expectObservable(source.pipe(withDeadline(10, ts))).toBe('a-b-c-|');
      expectSubscriptions(source.subscriptions).toBe('^-----!');
    });
  });

  it('errors with DEADLINE_EXCEEDED at the deadline and unsubscribes the source then', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a 5ms b 20ms |');
      expectObservable(source.pipe(withDeadline(10, ts))).toBe('a 5ms b 3ms #', undefined, expired(10));
      expectSubscriptions(source.subscriptions).toBe('^ 9ms !');
    });
  });

  it('bounds the whole stream, not the gaps between items (unlike timeout)', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-a-a-a-a-a-a-|'); // an item every 2 ms, done at 14
      expectObservable(source.pipe(withDeadline(5, ts))).toBe('a-a-a#', undefined, expired(5));
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('passes a source error through before the deadline', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-#', undefined, new SluiceError('UNAVAILABLE', 'gone'));
      expectObservable(source.pipe(withDeadline(10, ts))).toBe('-a-#', undefined, new SluiceError('UNAVAILABLE', 'gone'));
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('an expired deadline (<= 0) errors at once and never subscribes to the source', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a|');
      expectObservable(source.pipe(withDeadline(0, ts))).toBe('#', undefined, expired(0));
      expectObservable(source.pipe(withDeadline(-5, ts))).toBe('#', undefined, expired(-5));
      expectSubscriptions(source.subscriptions).toBe([]);
    });
  });

  it('a downstream unsubscribe cancels the source and the deadline', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d-e-|');
      expectObservable(source.pipe(withDeadline(6, ts)), '^--!').toBe('a-b');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('each subscription has its own deadline from its own subscribe time', () => {
    const ts = scheduler();
    ts.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b---c--|');
      const guarded = source.pipe(withDeadline(4, ts));
      expectObservable(guarded, '^').toBe('--a-#', undefined, expired(4));
      expectObservable(guarded, '----^').toBe('-----b--#', undefined, expired(4));
      expectSubscriptions(source.subscriptions).toBe(['^---!', '----^---!']);
    });
  });

  it('defaults to asyncScheduler (virtual inside run)', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold('a 10ms |').pipe(withDeadline(3))).toBe('a 2ms #', undefined, expired(3));
    });
  });

  it('rejects NaN at once', () => {
    expect(() => withDeadline(Number.NaN)).toThrow('withDeadline: ms must be a number, got NaN');
  });
});

describe('withDeadline (fake timers, default scheduler)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires on real timers and leaves none behind', () => {
    const source = new Subject<number>();
    const seen: unknown[] = [];
    source.pipe(withDeadline(100, asyncScheduler)).subscribe({ next: (v) => seen.push(v), error: (e: unknown) => seen.push(e) });
    source.next(1);
    vi.advanceTimersByTime(99);
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([1, expired(100)]);
    expect(source.observed).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('arms deadlines longer than the longest timer (2^31-1 ms) in steps instead of firing at once', () => {
    const ms = 2 ** 32 - 1; // MAX_DEADLINE_MS
    const seen: unknown[] = [];
    NEVER.pipe(withDeadline(ms)).subscribe({ error: (e: unknown) => seen.push(e) });
    vi.advanceTimersByTime(0x7fffffff);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(ms - 0x7fffffff - 1);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([expired(ms)]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears its timer when the source completes', () => {
    const source = new Subject<number>();
    source.pipe(withDeadline(100)).subscribe();
    expect(vi.getTimerCount()).toBe(1);
    source.complete();
    expect(vi.getTimerCount()).toBe(0);
    const sub = NEVER.pipe(withDeadline(100)).subscribe();
    sub.unsubscribe();
    expect(vi.getTimerCount()).toBe(0);
  });
});
