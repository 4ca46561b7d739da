import { describe, expect, it } from 'vitest';
import { RetryBudget, defaultRetryBudgetOptions, type RetryBudgetOptions } from '../../src/resilience/retry-budget.js';

function setup(options: Partial<RetryBudgetOptions>) {
  let now = 0;
  const budget = new RetryBudget(options, () => now);
  const withdrawAll = () => {
    let n = 0;
    while (budget.tryWithdraw()) n++;
    return n;
  };
  return { budget, withdrawAll, advance: (ms: number) => (now += ms) };
}

describe('RetryBudget', () => {
  it('has the documented defaults and validates options', () => {
    expect(defaultRetryBudgetOptions).toEqual({ ratio: 0.2, minRetriesPerSec: 5, ttlMs: 10_000 });
    expect(new RetryBudget().options).toEqual(defaultRetryBudgetOptions);
    expect(() => new RetryBudget({ ratio: 1.5 })).toThrow('retry budget: ratio must be from 0 to 1, got 1.5');
    expect(() => new RetryBudget({ ratio: -0.1 })).toThrow(RangeError);
    expect(() => new RetryBudget({ minRetriesPerSec: -1 })).toThrow('retry budget: minRetriesPerSec must be a finite number >= 0, got -1');
    expect(() => new RetryBudget({ ttlMs: 0 })).toThrow('retry budget: ttlMs must be an integer from 1 to 3600000, got 0');
  });

  it('floor: with no traffic at all, minRetriesPerSec * ttl retries are allowed per window', () => {
    const { budget, withdrawAll } = setup({ ratio: 0.2, minRetriesPerSec: 5, ttlMs: 10_000 });
    expect(budget.available()).toBe(50);
    expect(withdrawAll()).toBe(50);
    expect(budget.counters).toEqual({ requests: 0, retries: 50, exhausted: 1 });
  });

  it('each request deposits ratio: 5 requests at 0.2 make exactly one retry', () => {
    const { budget } = setup({ ratio: 0.2, minRetriesPerSec: 0 });
    for (let i = 0; i < 4; i++) budget.recordRequest();
    expect(budget.tryWithdraw()).toBe(false);
    budget.recordRequest();
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    expect(budget.counters).toEqual({ requests: 5, retries: 1, exhausted: 2 });
  });

  it('caps retries at ratio of requests under sustained failure (plus the reserve)', () => {
    const { budget, advance } = setup({ ratio: 0.2, minRetriesPerSec: 5, ttlMs: 10_000 });
    // 100 requests/s for 2 minutes, every one fails, and every caller tries to retry 3 times.
    for (let s = 0; s < 120; s++) {
      for (let i = 0; i < 100; i++) {
        budget.recordRequest();
        for (let r = 0; r < 3 && budget.tryWithdraw(); r++);
      }
      advance(1_000);
    }
    const { requests, retries } = budget.counters;
    expect(requests).toBe(12_000);
    // Over any 10 s window: retries <= 0.2 * requests + 50; over the run that is 0.2 * 12000 + 12 windows' reserve at most.
    expect(retries).toBeLessThanOrEqual(0.2 * requests + 50 * 12);
    expect(retries).toBeGreaterThanOrEqual(0.2 * requests); // and the ratio is really available
    expect(retries / requests).toBeLessThan(0.3); // not the 3x a plain retry loop would add
  });

  it('without a floor a route with no requests cannot retry', () => {
    const { budget } = setup({ ratio: 0.5, minRetriesPerSec: 0 });
    expect(budget.tryWithdraw()).toBe(false);
    expect(budget.available()).toBe(0);
  });

  it('deposits expire after ttlMs', () => {
    const { budget, advance } = setup({ ratio: 1, minRetriesPerSec: 0, ttlMs: 10_000 });
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(budget.available()).toBe(10);
    advance(9_999);
    expect(budget.available()).toBe(10);
    advance(1);
    expect(budget.available()).toBe(0);
  });

  it('withdrawals expire too: a spent reserve comes back after ttlMs', () => {
    const { budget, withdrawAll, advance } = setup({ ratio: 0.2, minRetriesPerSec: 1, ttlMs: 5_000 });
    expect(withdrawAll()).toBe(5);
    advance(4_000);
    expect(budget.tryWithdraw()).toBe(false);
    advance(1_000);
    expect(budget.available()).toBe(5);
  });

  it('deposits from different seconds expire one slot at a time', () => {
    const { budget, advance } = setup({ ratio: 1, minRetriesPerSec: 0, ttlMs: 3_000 });
    budget.recordRequest(); // t=0
    advance(1_000);
    budget.recordRequest(); // t=1000
    budget.recordRequest();
    advance(2_000); // t=3000: the first deposit expired
    expect(budget.available()).toBe(2);
    advance(1_000); // t=4000: all expired
    expect(budget.available()).toBe(0);
  });

  it('keeps bounded memory: a long ttl is split into at most 60 slots', () => {
    const { budget, advance } = setup({ ratio: 1, minRetriesPerSec: 0, ttlMs: 3_600_000 });
    budget.recordRequest();
    advance(3_540_000); // 59 of the 60 one-minute slots later: still there
    expect(budget.available()).toBe(1);
    advance(60_000);
    expect(budget.available()).toBe(0);
  });
});
