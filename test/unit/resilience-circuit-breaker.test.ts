import { describe, expect, it } from 'vitest';
import { CircuitBreaker, defaultBreakerOptions, type BreakerState, type CircuitBreakerOptions } from '../../src/resilience/circuit-breaker.js';

/** A breaker on a hand-driven clock, with its state changes recorded. */
function setup(options: Partial<CircuitBreakerOptions> = {}) {
  let now = 1_000;
  const breaker = new CircuitBreaker({ windowSize: 10, minimumCalls: 4, openDurationMs: 1_000, halfOpenMaxCalls: 2, slowCallDurationMs: 100, ...options }, () => now);
  const changes: string[] = [];
  breaker.onStateChange = (from, to) => changes.push(`${from}->${to}`);
  const call = (outcome: 'ok' | 'fail', durationMs = 1) => {
    expect(breaker.tryAcquire()).toBe(true);
    if (outcome === 'ok') breaker.onSuccess(durationMs);
    else breaker.onFailure(durationMs);
  };
  return { breaker, changes, call, advance: (ms: number) => (now += ms) };
}

/** Opens a breaker from `setup()` with 4 failures. */
function open(s: ReturnType<typeof setup>) {
  for (let i = 0; i < 4; i++) s.call('fail');
  expect(s.breaker.state).toBe<BreakerState>('open');
}

describe('CircuitBreaker', () => {
  it('has the documented defaults', () => {
    expect(defaultBreakerOptions).toEqual({
      windowSize: 20,
      minimumCalls: 10,
      failureRateThreshold: 0.5,
      slowCallDurationMs: 2000,
      slowCallRateThreshold: 0.8,
      openDurationMs: 5000,
      halfOpenMaxCalls: 3,
    });
    expect(new CircuitBreaker().options).toEqual(defaultBreakerOptions);
    expect(new CircuitBreaker({ windowSize: 5, minimumCalls: 5 }).options.windowSize).toBe(5);
  });

  it('rejects invalid options with a RangeError naming the option and its range', () => {
    expect(() => new CircuitBreaker({ windowSize: 0 })).toThrow('circuit breaker: windowSize must be an integer from 1 to 100000, got 0');
    expect(() => new CircuitBreaker({ windowSize: 5, minimumCalls: 6 })).toThrow('circuit breaker: minimumCalls must be an integer from 1 to 5, got 6');
    expect(() => new CircuitBreaker({ failureRateThreshold: 0 })).toThrow('failureRateThreshold must be a rate in (0, 1], got 0');
    expect(() => new CircuitBreaker({ slowCallRateThreshold: 1.5 })).toThrow('slowCallRateThreshold must be a rate in (0, 1], got 1.5');
    expect(() => new CircuitBreaker({ openDurationMs: -1 })).toThrow('openDurationMs must be a finite number of ms >= 0, got -1');
    expect(() => new CircuitBreaker({ slowCallDurationMs: Number.NaN })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ halfOpenMaxCalls: 0 })).toThrow('halfOpenMaxCalls must be an integer from 1');
  });

  it('starts closed and admits every call', () => {
    const { breaker } = setup();
    expect(breaker.state).toBe('closed');
    for (let i = 0; i < 100; i++) expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.remainingOpenMs()).toBe(0);
  });

  it('opens when the failure rate reaches the threshold (at or above)', () => {
    const s = setup();
    s.call('ok');
    s.call('ok');
    s.call('fail');
    expect(s.breaker.state).toBe('closed'); // 3 calls < minimumCalls
    s.call('fail'); // 2 of 4 = 0.5 >= 0.5
    expect(s.breaker.state).toBe('open');
    expect(s.changes).toEqual(['closed->open']);
    expect(s.breaker.counters.opened).toBe(1);
  });

  it('does not judge before minimumCalls, however bad the calls', () => {
    const s = setup({ minimumCalls: 4 });
    for (let i = 0; i < 3; i++) s.call('fail');
    expect(s.breaker.state).toBe('closed');
    s.call('fail');
    expect(s.breaker.state).toBe('open');
  });

  it('stays closed below the failure threshold', () => {
    const s = setup({ failureRateThreshold: 0.5 });
    for (let i = 0; i < 30; i++) s.call(i % 3 === 2 ? 'fail' : 'ok'); // 1 in 3: never 5 in a window of 10
    expect(s.breaker.state).toBe('closed');
  });

  it('judges only the last windowSize calls: old failures slide out', () => {
    const s = setup({ windowSize: 4, minimumCalls: 4, failureRateThreshold: 0.75 });
    s.call('fail');
    s.call('fail');
    s.call('ok');
    s.call('ok'); // 2 of 4
    s.call('ok'); // window: fail ok ok ok
    s.call('fail'); // ok ok ok fail
    s.call('fail'); // ok ok fail fail = 0.5
    expect(s.breaker.state).toBe('closed');
    s.call('fail'); // ok fail fail fail = 0.75
    expect(s.breaker.state).toBe('open');
  });

  it('opens on the slow-call rate even when every call succeeds', () => {
    const s = setup({ slowCallRateThreshold: 0.75, slowCallDurationMs: 100 });
    s.call('ok', 100); // at least slowCallDurationMs: slow
    s.call('ok', 150);
    s.call('ok', 99); // not slow
    expect(s.breaker.state).toBe('closed');
    s.call('ok', 500); // 3 slow of 4 = 0.75
    expect(s.breaker.state).toBe('open');
    expect(s.breaker.counters).toMatchObject({ successes: 4, failures: 0, slow: 3 });
  });

  it('counts a slow failure as both failed and slow', () => {
    const s = setup({ failureRateThreshold: 1, slowCallRateThreshold: 1 });
    s.call('fail', 200);
    s.call('fail', 200);
    s.call('fail', 200);
    expect(s.breaker.counters).toMatchObject({ failures: 3, slow: 3 });
    s.call('fail', 200); // 4 of 4 on both rates
    expect(s.breaker.state).toBe('open');
  });

  it('rejects while open and counts rejections; remainingOpenMs counts down', () => {
    const s = setup();
    open(s);
    expect(s.breaker.tryAcquire()).toBe(false);
    expect(s.breaker.tryAcquire()).toBe(false);
    expect(s.breaker.counters.rejected).toBe(2);
    expect(s.breaker.remainingOpenMs()).toBe(1000);
    s.advance(400.5);
    expect(s.breaker.remainingOpenMs()).toBe(600); // rounded up
    expect(s.breaker.state).toBe('open');
  });

  it('becomes half-open after openDurationMs, lazily on the injected clock', () => {
    const s = setup();
    open(s);
    s.advance(999);
    expect(s.breaker.state).toBe('open');
    s.advance(1);
    expect(s.changes).toEqual(['closed->open']); // nothing happens until someone looks
    expect(s.breaker.state).toBe('half-open');
    expect(s.changes).toEqual(['closed->open', 'open->half-open']);
    expect(s.breaker.remainingOpenMs()).toBe(0);
  });

  it('admits halfOpenMaxCalls probes, rejects more, and closes when all succeed', () => {
    const s = setup({ halfOpenMaxCalls: 2 });
    open(s);
    s.advance(1000);
    expect(s.breaker.tryAcquire()).toBe(true);
    expect(s.breaker.tryAcquire()).toBe(true);
    expect(s.breaker.tryAcquire()).toBe(false); // all probes taken
    s.breaker.onSuccess(1);
    expect(s.breaker.state).toBe('half-open');
    expect(s.breaker.tryAcquire()).toBe(false); // a succeeded probe does not free its slot
    s.breaker.onSuccess(1);
    expect(s.breaker.state).toBe('closed');
    expect(s.changes).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('resets the window on closing: the failures that opened it are forgotten', () => {
    const s = setup();
    open(s);
    s.advance(1000);
    s.call('ok');
    s.call('ok');
    expect(s.breaker.state).toBe('closed');
    s.call('fail');
    s.call('fail');
    s.call('fail');
    expect(s.breaker.state).toBe('closed'); // 3 calls in the new window < minimumCalls
    s.call('fail');
    expect(s.breaker.state).toBe('open');
  });

  it('re-opens once the failed probes reach the failure-rate threshold, for a full openDurationMs', () => {
    const s = setup();
    open(s);
    s.advance(1000);
    s.call('ok');
    s.call('fail');
    expect(s.breaker.state).toBe('open');
    expect(s.breaker.remainingOpenMs()).toBe(1000);
    expect(s.breaker.counters.opened).toBe(2);
    expect(s.changes).toEqual(['closed->open', 'open->half-open', 'half-open->open']);
  });

  it('closes after a round whose failure rate stays below the threshold', () => {
    const s = setup({ halfOpenMaxCalls: 3, failureRateThreshold: 0.5 });
    open(s);
    s.advance(1000);
    s.call('fail');
    expect(s.breaker.state).toBe('half-open'); // 1 of 3 < 50%: not decided yet
    s.call('ok');
    expect(s.breaker.state).toBe('half-open');
    s.call('ok');
    expect(s.breaker.state).toBe('closed');
  });

  it('re-opens as soon as the failed probes reach the threshold, without waiting for the rest of the round', () => {
    const s = setup({ halfOpenMaxCalls: 3, failureRateThreshold: 0.5 });
    open(s);
    s.advance(1000);
    expect(s.breaker.tryAcquire()).toBe(true); // a third probe still in flight
    s.call('fail');
    expect(s.breaker.state).toBe('half-open');
    s.call('fail');
    expect(s.breaker.state).toBe('open'); // 2 of 3 >= 50%, whatever the third does
    s.breaker.onSuccess(1); // the third probe's late result is stale now
    expect(s.breaker.state).toBe('open');
  });

  it('judges slow probes by the slow-call threshold, like the window does', () => {
    const s = setup({ slowCallDurationMs: 100, slowCallRateThreshold: 0.5 });
    open(s);
    s.advance(1000);
    s.call('ok', 100);
    expect(s.breaker.state).toBe('open'); // 1 slow of 2 >= 50%
    const t = setup({ slowCallDurationMs: 100, slowCallRateThreshold: 1 });
    open(t);
    t.advance(1000);
    t.call('ok', 100);
    expect(t.breaker.state).toBe('half-open'); // 1 slow of 2 < 100%
    t.call('ok', 100);
    expect(t.breaker.state).toBe('open'); // 2 slow of 2
  });

  it('release frees a half-open probe slot without judging', () => {
    const s = setup({ halfOpenMaxCalls: 1 });
    open(s);
    s.advance(1000);
    expect(s.breaker.tryAcquire()).toBe(true);
    expect(s.breaker.tryAcquire()).toBe(false);
    s.breaker.release(); // the probe was cancelled
    expect(s.breaker.state).toBe('half-open');
    expect(s.breaker.tryAcquire()).toBe(true);
    s.breaker.onSuccess(1);
    expect(s.breaker.state).toBe('closed');
    expect(s.breaker.counters).toMatchObject({ successes: 1, failures: 4 });
  });

  it('release while closed or open changes nothing', () => {
    const s = setup();
    s.breaker.release();
    expect(s.breaker.state).toBe('closed');
    open(s);
    s.breaker.release();
    expect(s.breaker.state).toBe('open');
    expect(s.changes).toEqual(['closed->open']);
  });

  it('ignores results of calls admitted before it opened (stale), but counts them', () => {
    const s = setup({ halfOpenMaxCalls: 1 });
    expect(s.breaker.tryAcquire()).toBe(true); // a long call, admitted while closed
    open(s);
    s.breaker.onSuccess(1); // it ends while open
    expect(s.breaker.state).toBe('open');
    s.advance(1000);
    s.breaker.onFailure(1); // or while half-open with no probe in flight
    expect(s.breaker.state).toBe('half-open');
    expect(s.breaker.counters).toMatchObject({ successes: 1, failures: 5 });
  });

  it('keeps counters: opened, rejected, successes, failures, slow', () => {
    const s = setup();
    s.call('ok');
    s.call('ok', 100);
    s.call('fail');
    s.call('fail');
    s.breaker.tryAcquire();
    s.breaker.tryAcquire();
    expect(s.breaker.counters).toEqual({ opened: 1, rejected: 2, successes: 2, failures: 2, slow: 1 });
  });

  it('tells onStateChange about every transition, never a same-state one', () => {
    const s = setup({ halfOpenMaxCalls: 1, openDurationMs: 0 });
    for (let i = 0; i < 4; i++) s.call('fail');
    expect(s.breaker.state).toBe('half-open'); // openDurationMs 0: at once
    s.call('fail');
    expect(s.breaker.state).toBe('half-open');
    s.call('ok');
    expect(s.breaker.state).toBe('closed');
    expect(s.changes).toEqual(['closed->open', 'open->half-open', 'half-open->open', 'open->half-open', 'half-open->closed']);
  });
});
