import { describe, expect, it } from 'vitest';
import { nextRetry } from '../../src/resilience/retry.js';

const schedule = { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2 };
const top = () => 0.999_999; // the jitter at its ceiling

describe('nextRetry: the one retry rule', () => {
  it('full jitter under an exponential ceiling: step attempts - 1 by default, or the step given', () => {
    expect(nextRetry(1, schedule, { random: top })).toEqual({ retry: true, delayMs: 99 });
    expect(nextRetry(2, schedule, { random: top })).toEqual({ retry: true, delayMs: 199 });
    expect(nextRetry(1, schedule, { random: () => 0 })).toEqual({ retry: true, delayMs: 0 });
    expect(nextRetry(1, { ...schedule, maxAttempts: Infinity }, { random: top, step: 10 })).toEqual({ retry: true, delayMs: 999 });
  });

  it('stops at maxAttempts in total (1: never retry)', () => {
    expect(nextRetry(3, schedule)).toEqual({ retry: false, why: 'attempts' });
    expect(nextRetry(1, { ...schedule, maxAttempts: 1 })).toEqual({ retry: false, why: 'attempts' });
  });

  it('stops when the backoff reaches the deadline', () => {
    expect(nextRetry(1, schedule, { random: top, remainingMs: 99 })).toEqual({ retry: false, why: 'deadline' });
    expect(nextRetry(1, schedule, { random: top, remainingMs: 100 })).toEqual({ retry: true, delayMs: 99 });
  });

  it('withdraws from the budget last, and only for a retry that happens', () => {
    let withdrawn = 0;
    const budget = { tryWithdraw: () => (withdrawn++, withdrawn <= 1) };
    expect(nextRetry(3, schedule, { budget })).toEqual({ retry: false, why: 'attempts' });
    expect(nextRetry(1, schedule, { budget, random: top, remainingMs: 10 })).toEqual({ retry: false, why: 'deadline' });
    expect(withdrawn).toBe(0);
    expect(nextRetry(1, schedule, { budget }).retry).toBe(true);
    expect(nextRetry(1, schedule, { budget })).toEqual({ retry: false, why: 'budget' });
    expect(withdrawn).toBe(2);
  });
});
