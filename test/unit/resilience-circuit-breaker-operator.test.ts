import { of, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { CircuitBreaker } from '../../src/resilience/circuit-breaker.js';
import { circuitBreaker } from '../../src/resilience/operators/circuit-breaker.js';

const failure = new SluiceError('UNAVAILABLE', 'down');

/** A TestScheduler and a breaker on its virtual clock. */
function setup(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const ts = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  const breaker = new CircuitBreaker({ windowSize: 2, minimumCalls: 2, openDurationMs: 10, halfOpenMaxCalls: 1, slowCallDurationMs: 5, ...options }, () => ts.now());
  return { ts, breaker };
}

describe('circuitBreaker operator (marbles)', () => {
  it('a completed stream is a success, judged by its duration from subscription', () => {
    const { ts, breaker } = setup();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const fast = cold('-a|');
      const slow = cold('--a--|'); // 5 ms: slow
      expectObservable(fast.pipe(circuitBreaker(breaker, ts))).toBe('-a|');
      expectObservable(slow.pipe(circuitBreaker(breaker, ts))).toBe('--a--|');
      expectSubscriptions(fast.subscriptions).toBe('^-!');
      expectSubscriptions(slow.subscriptions).toBe('^----!');
    });
    expect(breaker.counters).toEqual({ opened: 0, rejected: 0, successes: 2, failures: 0, slow: 1 });
  });

  it('an error is a failure and passes on unchanged; enough of them open the breaker', () => {
    const { ts, breaker } = setup();
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold('-#', undefined, failure).pipe(circuitBreaker(breaker, ts))).toBe('-#', undefined, failure);
      expectObservable(cold('--#', undefined, failure).pipe(circuitBreaker(breaker, ts))).toBe('--#', undefined, failure);
    });
    expect(breaker.counters.failures).toBe(2);
    expect(breaker.state).toBe('open');
  });

  it('while open: errors at once with CIRCUIT_OPEN and retryAfterMs, never subscribing to the source', () => {
    const { ts, breaker } = setup();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const failing = cold('-#', undefined, failure);
      const guarded = failing.pipe(circuitBreaker(breaker, ts));
      expectObservable(guarded).toBe('-#', undefined, failure);
      expectObservable(guarded).toBe('-#', undefined, failure); // both fail at 1: the breaker opens at 1, open until 11
      const source = cold('a|');
      const late = source.pipe(circuitBreaker(breaker, ts));
      const open = new SluiceError('CIRCUIT_OPEN', 'circuit breaker open; retry after 8 ms', { details: { retryAfterMs: 8 } });
      expectObservable(late, '---^').toBe('---#', undefined, open); // subscribed at 3: 8 ms left
      expectSubscriptions(source.subscriptions).toBe([]);
    });
    expect(breaker.counters.rejected).toBe(1);
  });

  it('half-open: admits one probe, rejects the rest, and a successful probe closes it', () => {
    const { ts, breaker } = setup();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      expectObservable(cold('#', undefined, failure).pipe(circuitBreaker(breaker, ts))).toBe('#', undefined, failure);
      expectObservable(cold('#', undefined, failure).pipe(circuitBreaker(breaker, ts))).toBe('#', undefined, failure);
      const probe = cold('--a|');
      const other = cold('a|');
      const busy = new SluiceError('CIRCUIT_OPEN', 'circuit breaker half-open and all 1 probe calls are taken; retry later', { details: { retryAfterMs: 0 } });
      expectObservable(probe.pipe(circuitBreaker(breaker, ts)), '10ms ^').toBe('12ms a|');
      expectObservable(other.pipe(circuitBreaker(breaker, ts)), '11ms ^').toBe('11ms #', undefined, busy);
      expectSubscriptions(probe.subscriptions).toBe('10ms ^--!');
      expectSubscriptions(other.subscriptions).toBe([]);
    });
    expect(breaker.state).toBe('closed');
  });

  it('an unsubscribe before the end releases the call (the half-open probe slot frees) without judging it', () => {
    const { ts, breaker } = setup();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      expectObservable(cold('#', undefined, failure).pipe(circuitBreaker(breaker, ts))).toBe('#', undefined, failure);
      expectObservable(cold('#', undefined, failure).pipe(circuitBreaker(breaker, ts))).toBe('#', undefined, failure);
      const cancelled = cold('-----a|');
      const next = cold('-a|');
      expectObservable(cancelled.pipe(circuitBreaker(breaker, ts)), '10ms ^-!').toBe('');
      expectObservable(next.pipe(circuitBreaker(breaker, ts)), '12ms ^').toBe('13ms a|');
      expectSubscriptions(cancelled.subscriptions).toBe('10ms ^-!');
      expectSubscriptions(next.subscriptions).toBe('12ms ^-!');
    });
    expect(breaker.state).toBe('closed');
    expect(breaker.counters).toMatchObject({ successes: 1, failures: 2, rejected: 0 });
  });

  it('after a terminal signal an unsubscribe does not release again', () => {
    const { ts, breaker } = setup();
    let released = 0;
    const original = breaker.release.bind(breaker);
    breaker.release = () => {
      released++;
      original();
    };
    ts.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|').pipe(circuitBreaker(breaker, ts)), '^---!').toBe('-a|');
      expectObservable(cold('-a-----').pipe(circuitBreaker(breaker, ts)), '^---!').toBe('-a-');
    });
    expect(released).toBe(1);
  });
});

describe('circuitBreaker operator without a scheduler', () => {
  it("measures durations with the breaker's own clock", () => {
    let now = 0;
    const breaker = new CircuitBreaker({ slowCallDurationMs: 100, windowSize: 1, minimumCalls: 1, slowCallRateThreshold: 1 }, () => now);
    const seen: unknown[] = [];
    of(1).pipe(circuitBreaker(breaker)).subscribe((v) => seen.push(v));
    expect(breaker.counters).toMatchObject({ successes: 1, slow: 0 });
    throwError(() => {
      now += 100; // the source takes 100 ms to fail
      return failure;
    })
      .pipe(circuitBreaker(breaker))
      .subscribe({ error: (e: unknown) => seen.push(e) });
    expect(seen).toEqual([1, failure]);
    expect(breaker.counters).toMatchObject({ failures: 1, slow: 1 });
    expect(breaker.state).toBe('open');
  });
});
