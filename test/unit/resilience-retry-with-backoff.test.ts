import { defer, of, throwError, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SluiceError, type ErrorCode } from '../../src/errors.js';
import { RetryBudget } from '../../src/resilience/retry-budget.js';
import { isRetryable, retryWithBackoff } from '../../src/resilience/operators/retry-with-backoff.js';

const unavailable = new SluiceError('UNAVAILABLE', 'instance went away');

function scheduler() {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('retryWithBackoff (marbles)', () => {
  it('resubscribes after full-jitter backoff delays until maxAttempts, then rethrows the last error', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--#', undefined, unavailable);
      // random 0.5: delays floor(0.5 * 10) = 5, then floor(0.5 * 20) = 10
      const retried = source.pipe(retryWithBackoff({ maxAttempts: 3, initialDelayMs: 10, multiplier: 2, random: () => 0.5, scheduler: ts }));
      expectObservable(retried).toBe('21ms #', undefined, unavailable);
      expectSubscriptions(source.subscriptions).toBe(['^-!', '7ms ^-!', '19ms ^-!']);
    });
  });

  it('caps delays at maxDelayMs', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('#', undefined, unavailable);
      // random 0.99: ceilings 10, 20, 40 -> capped at 15: delays 9, 14, 14
      const retried = source.pipe(retryWithBackoff({ maxAttempts: 4, initialDelayMs: 10, maxDelayMs: 15, random: () => 0.99, scheduler: ts }));
      expectObservable(retried).toBe('37ms #', undefined, unavailable);
      expectSubscriptions(source.subscriptions).toBe(['(^!)', '9ms (^!)', '23ms (^!)', '37ms (^!)']);
    });
  });

  it('completes with the values of the attempt that succeeded', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      let attempt = 0;
      const flaky = defer(() => (++attempt < 3 ? cold('-#', undefined, unavailable) : cold('-a-b|')));
      expectObservable(flaky.pipe(retryWithBackoff({ maxAttempts: 5, initialDelayMs: 4, random: () => 0.5, scheduler: ts }))).toBe('9ms a-b|'); // attempts at 0, 3 (+2) and 8 (+4)
    });
  });

  it('never retries once the source has emitted: the error passes on', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-#', undefined, unavailable);
      expectObservable(source.pipe(retryWithBackoff({ maxAttempts: 5, random: () => 0, scheduler: ts }))).toBe('a-#', undefined, unavailable);
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it.each<ErrorCode>(['INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NO_ROUTE', 'CANCELED'])('does not retry %s by default', (code) => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const err = new SluiceError(code, 'no');
      const source = cold('-#', undefined, err);
      expectObservable(source.pipe(retryWithBackoff({ maxAttempts: 5, random: () => 0, scheduler: ts }))).toBe('-#', undefined, err);
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });

  it('retries UNAVAILABLE, OVERLOADED, INTERNAL (plain errors too) and CIRCUIT_OPEN by default', () => {
    for (const code of ['UNAVAILABLE', 'OVERLOADED', 'INTERNAL', 'CIRCUIT_OPEN'] as const) expect(isRetryable(new SluiceError(code, 'x')), code).toBe(true);
    for (const code of ['INVALID_ARGUMENT', 'DEADLINE_EXCEEDED'] as const) expect(isRetryable(new SluiceError(code, 'x')), code).toBe(false);
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const plain = new Error('boom');
      const source = cold('-#', undefined, plain);
      expectObservable(source.pipe(retryWithBackoff({ maxAttempts: 2, random: () => 0, scheduler: ts }))).toBe('--#', undefined, plain); // rethrown unchanged
      expectSubscriptions(source.subscriptions).toBe(['^!', '-^!']);
    });
  });

  it('uses a custom shouldRetry, given the error as a SluiceError', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const seen: string[] = [];
      const err = new SluiceError('INVALID_ARGUMENT', 'flaky validator');
      const source = cold('-#', undefined, err);
      const retried = source.pipe(retryWithBackoff({ maxAttempts: 2, random: () => 0, scheduler: ts, shouldRetry: (e) => (seen.push(e.code), true) }));
      expectObservable(retried).toBe('--#', undefined, err);
      expectSubscriptions(source.subscriptions).toBe(['^!', '-^!']);
      ts.flush();
      expect(seen).toEqual(['INVALID_ARGUMENT']); // asked only when a retry was still possible
    });
  });

  it('maxAttempts 1 never retries', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#', undefined, unavailable);
      expectObservable(source.pipe(retryWithBackoff({ maxAttempts: 1, scheduler: ts }))).toBe('-#', undefined, unavailable);
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });

  it('the budget: the first subscription records a request, each resubscription withdraws, exhaustion stops retrying', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const budget = new RetryBudget({ ratio: 0, minRetriesPerSec: 0.1, ttlMs: 10_000 }, () => 0); // 1 retry per window
      const source = cold('-#', undefined, unavailable);
      expectObservable(source.pipe(retryWithBackoff({ maxAttempts: 5, random: () => 0, budget, scheduler: ts }))).toBe('--#', undefined, unavailable);
      expectSubscriptions(source.subscriptions).toBe(['^!', '-^!']);
      ts.flush();
      expect(budget.counters).toEqual({ requests: 1, retries: 1, exhausted: 1 });
    });
  });

  it('does not touch the budget for errors it would not retry anyway', () => {
    const budget = new RetryBudget({ ratio: 0, minRetriesPerSec: 1 });
    const seen: unknown[] = [];
    throwError(() => new SluiceError('INVALID_ARGUMENT', 'bad'))
      .pipe(retryWithBackoff({ maxAttempts: 3, budget }))
      .subscribe({ error: (e: unknown) => seen.push(e) });
    expect(seen).toHaveLength(1);
    expect(budget.counters).toEqual({ requests: 1, retries: 0, exhausted: 0 });
  });

  it('an unsubscribe during the backoff delay cancels the pending resubscription', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--#', undefined, unavailable);
      const retried = source.pipe(retryWithBackoff({ maxAttempts: 3, initialDelayMs: 10, random: () => 0.5, scheduler: ts }));
      expectObservable(retried, '^---!').toBe('');
      expectSubscriptions(source.subscriptions).toBe('^-!'); // the retry due at 7 never happens
    });
  });

  it('an unsubscribe during an attempt unsubscribes that attempt', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--#', undefined, unavailable);
      const retried = source.pipe(retryWithBackoff({ maxAttempts: 3, initialDelayMs: 2, random: () => 0.5, scheduler: ts }));
      expectObservable(retried, '^---!').toBe('');
      expectSubscriptions(source.subscriptions).toBe(['^-!', '---^!']);
    });
  });

  it('validates maxAttempts', () => {
    expect(() => retryWithBackoff({ maxAttempts: 0 })).toThrow('retryWithBackoff: maxAttempts must be an integer >= 1, got 0');
    expect(() => retryWithBackoff({ maxAttempts: 1.5 })).toThrow(RangeError);
  });
});

describe('retryWithBackoff (fake timers, default scheduler and defaults)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('uses the default backoff (100 ms, x2, 5 s cap) on real timers', () => {
    let subscriptions = 0;
    const source: Observable<number> = defer(() => {
      subscriptions++;
      return subscriptions < 3 ? throwError(() => unavailable) : of(42);
    });
    const seen: unknown[] = [];
    source.pipe(retryWithBackoff({ maxAttempts: 3, random: () => 0.999 })).subscribe({ next: (v) => seen.push(v), complete: () => seen.push('done') });
    expect(subscriptions).toBe(1);
    vi.advanceTimersByTime(99); // first delay: floor(0.999 * 100) = 99
    expect(subscriptions).toBe(2);
    vi.advanceTimersByTime(198); // second: floor(0.999 * 200) = 199
    expect(subscriptions).toBe(2);
    vi.advanceTimersByTime(1);
    expect(subscriptions).toBe(3);
    expect(seen).toEqual([42, 'done']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
