import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultBackoff } from '../../src/resilience/backoff.js';

const justBelowOne = () => 1 - Number.EPSILON;

describe('backoffDelay (full jitter)', () => {
  it('defaults: 100 ms first ceiling, doubling, capped at 5 s', () => {
    expect(defaultBackoff).toEqual({ initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2 });
  });

  it('is uniform in [0, ceiling): the random draw scales the ceiling', () => {
    expect(backoffDelay(0, defaultBackoff, () => 0)).toBe(0);
    expect(backoffDelay(0, defaultBackoff, () => 0.5)).toBe(50);
    expect(backoffDelay(0, defaultBackoff, justBelowOne)).toBe(99);
  });

  it('the ceiling grows by the multiplier per attempt up to the maximum', () => {
    const ceilings = Array.from({ length: 9 }, (_, attempt) => backoffDelay(attempt, defaultBackoff, justBelowOne) + 1);
    expect(ceilings).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000]);
  });

  it('stays finite and capped for huge attempt numbers', () => {
    for (const attempt of [64, 1_000, 1e9, Infinity]) expect(backoffDelay(attempt, defaultBackoff, justBelowOne)).toBe(4_999);
  });

  it('honours custom options', () => {
    const options = { initialDelayMs: 20, maxDelayMs: 200, multiplier: 3 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, options, justBelowOne) + 1)).toEqual([20, 60, 180, 200]);
  });

  it('uses Math.random by default and returns whole milliseconds in range', () => {
    for (let i = 0; i < 1_000; i++) {
      const d = backoffDelay(3);
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(800);
    }
  });
});
