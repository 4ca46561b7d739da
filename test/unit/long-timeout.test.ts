import { afterEach, describe, expect, it, vi } from 'vitest';
import { setLongTimeout } from '../../src/resilience/long-timeout.js';

describe('setLongTimeout', () => {
  afterEach(() => vi.useRealTimers());

  it('waits the whole delay beyond the 2^31-1 ms timer limit', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    setLongTimeout(fn, 0xffffffff);
    vi.advanceTimersByTime(0x7fffffff);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(0xffffffff - 0x7fffffff - 1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('fires short delays once and can be cancelled at any step', () => {
    vi.useFakeTimers();
    const short = vi.fn();
    setLongTimeout(short, 10);
    vi.advanceTimersByTime(10);
    expect(short).toHaveBeenCalledTimes(1);
    const long = vi.fn();
    const cancel = setLongTimeout(long, 0x7fffffff + 100);
    vi.advanceTimersByTime(0x7fffffff + 50);
    cancel();
    vi.advanceTimersByTime(1000);
    expect(long).not.toHaveBeenCalled();
  });
});
