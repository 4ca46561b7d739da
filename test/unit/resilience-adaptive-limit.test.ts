/**
 * The adaptive concurrency limit on a manual clock: it grows while a
 * dependency answers at a steady latency and callers use the room, shrinks
 * when latency climbs or calls time out, ignores a modest rate of fast
 * errors, stays within its bounds, and hands permits to waiters in order.
 */
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { AdaptiveLimit, type Permit } from '../../src/resilience/adaptive-limit.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** Keeps `limit.limit` calls in flight, each answering `rttMs` after it started, for `rounds` rounds. */
function saturate(limit: AdaptiveLimit, clock: ManualClock, rttMs: number, rounds: number, outcome: (p: Permit, i: number) => void = (p) => p.success()): void {
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    const permits: Permit[] = [];
    for (let p = limit.tryAcquire(); p; p = limit.tryAcquire()) permits.push(p);
    void clock.advance(rttMs);
    for (const p of permits) outcome(p, n++);
  }
}

describe('AdaptiveLimit', () => {
  it('grows toward its ceiling while latency stays level and callers use the room', () => {
    const clock = new ManualClock();
    const limit = new AdaptiveLimit({ initialLimit: 10, maxLimit: 400 }, () => clock.now());
    saturate(limit, clock, 2_000, 30);
    expect(limit.limit).toBe(400);
    expect(limit.latencyMs).toBe(2_000);
  });

  it('does not grow while callers leave most of it unused', () => {
    const clock = new ManualClock();
    const limit = new AdaptiveLimit({ initialLimit: 20 }, () => clock.now());
    for (let i = 0; i < 200; i++) {
      const p = limit.tryAcquire()!;
      void clock.advance(100);
      p.success();
    }
    expect(limit.limit).toBe(20);
  });

  it('shrinks when latency climbs well above its long-run level, and never below minLimit', () => {
    const clock = new ManualClock();
    const limit = new AdaptiveLimit({ initialLimit: 50, minLimit: 5, maxLimit: 200 }, () => clock.now());
    saturate(limit, clock, 100, 40);
    const grown = limit.limit;
    expect(grown).toBe(200);
    // A queue builds at the dependency: answers take 10x as long. (Latency that stays high becomes the
    // new long-run level over longWindow samples, and the limit probes upward again from there.)
    saturate(limit, clock, 1_000, 1);
    expect(limit.limit).toBeLessThan(grown * 0.7);
    saturate(limit, clock, 5_000, 40);
    expect(limit.limit).toBeGreaterThanOrEqual(5);
  });

  it('cuts multiplicatively on drops (timeouts, OVERLOADED), once per round of calls, down to minLimit', () => {
    const clock = new ManualClock();
    const limit = new AdaptiveLimit({ initialLimit: 100, minLimit: 3, backoffRatio: 0.5 }, () => clock.now());
    // Ten calls sent together all time out: one cut, not ten.
    const burst = Array.from({ length: 10 }, () => limit.tryAcquire()!);
    void clock.advance(5_000);
    for (const p of burst) p.dropped();
    expect(limit.limit).toBe(50);
    // Each later round that drops cuts again.
    for (let i = 0; i < 20; i++) {
      const p = limit.tryAcquire()!;
      void clock.advance(1);
      p.dropped();
    }
    expect(limit.limit).toBe(3);
    expect(limit.counters.drops).toBe(30);
  });

  it('keeps growing with 20% fast errors, and shrinks once the error rate passes its threshold', () => {
    const clock = new ManualClock();
    const flaky = new AdaptiveLimit({ initialLimit: 10, maxLimit: 300 }, () => clock.now());
    saturate(flaky, clock, 2_000, 40, (p, i) => (i % 5 === 0 ? p.failed() : p.success()));
    expect(flaky.limit).toBe(300);
    expect(flaky.recentErrorRate).toBeGreaterThan(0.1);
    expect(flaky.recentErrorRate).toBeLessThan(0.3);

    const failing = new AdaptiveLimit({ initialLimit: 100, errorRateThreshold: 0.5 }, () => clock.now());
    for (let i = 0; i < 100; i++) {
      const p = failing.tryAcquire()!;
      void clock.advance(1);
      p.failed();
    }
    expect(failing.recentErrorRate).toBeGreaterThan(0.5);
    expect(failing.limit).toBeLessThan(100);
  });

  it('ignored calls change nothing but free their permit', () => {
    const limit = new AdaptiveLimit({ initialLimit: 2 });
    const a = limit.tryAcquire()!;
    limit.tryAcquire()!;
    expect(limit.tryAcquire()).toBeUndefined();
    a.ignore();
    a.success(); // a second report is ignored
    expect(limit.inFlight).toBe(1);
    expect(limit.limit).toBe(2);
    expect(limit.counters).toMatchObject({ successes: 0, drops: 0, errors: 0 });
  });

  it('hands freed permits to waiters in arrival order, refuses past maxQueue, and drops aborted waiters', async () => {
    const limit = new AdaptiveLimit({ initialLimit: 1, maxLimit: 1, maxQueue: 2 });
    const first = await limit.acquire();
    const order: string[] = [];
    const controller = new AbortController();
    const aborted = limit.acquire(controller.signal).catch((e: unknown) => (e as SluiceError).code);
    const second = limit.acquire().then((p) => (order.push('second'), p));
    await expect(limit.acquire()).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect(limit.counters.rejected).toBe(1);
    controller.abort();
    expect(await aborted).toBe('CANCELED');
    expect(limit.queued).toBe(1);
    first.success();
    (await second).success();
    expect(order).toEqual(['second']);
    expect(limit.inFlight).toBe(0);
  });

  it('refuses options out of range', () => {
    expect(() => new AdaptiveLimit({ minLimit: 10, maxLimit: 5, initialLimit: 5 })).toThrow(/maxLimit/);
    expect(() => new AdaptiveLimit({ initialLimit: 0 })).toThrow(/initialLimit/);
    expect(() => new AdaptiveLimit({ backoffRatio: 1 })).toThrow(/backoffRatio/);
    expect(() => new AdaptiveLimit({ tolerance: 0.5 })).toThrow(/tolerance/);
  });
});
