import { describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/resilience/clock.js';

describe('systemClock', () => {
  it('is performance.now(): monotonic milliseconds', () => {
    const a = systemClock();
    const b = systemClock();
    expect(typeof a).toBe('number');
    expect(b).toBeGreaterThanOrEqual(a);
    expect(Math.abs(systemClock() - performance.now())).toBeLessThan(1000);
  });

  it('is a Clock: any () => number can stand in for it in tests', () => {
    let t = 0;
    const manual: Clock = () => t;
    t = 42;
    expect(manual()).toBe(42);
  });
});
