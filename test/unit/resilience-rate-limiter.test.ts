import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../src/resilience/rate-limiter.js';

function setup(maxKeys?: number) {
  let now = 0;
  const limiter = new KeyedRateLimiter({ ratePerSec: 1, burst: 2, ...(maxKeys === undefined ? {} : { maxKeys }) }, () => now);
  return { limiter, advance: (ms: number) => (now += ms) };
}

describe('KeyedRateLimiter', () => {
  it('keeps one bucket per key', () => {
    const { limiter } = setup();
    expect(limiter.take('a')).toEqual({ ok: true });
    expect(limiter.take('a')).toEqual({ ok: true });
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterMs: 1000 });
    expect(limiter.take('b')).toEqual({ ok: true }); // b is not limited by a
    expect(limiter.size).toBe(2);
    expect(limiter.counters).toMatchObject({ allowed: 3, limited: 1 });
  });

  it('defaults maxKeys to 10000 and validates it', () => {
    expect(setup().limiter.options).toEqual({ ratePerSec: 1, burst: 2, maxKeys: 10_000 });
    expect(() => new KeyedRateLimiter({ ratePerSec: 1, burst: 1, maxKeys: 0 })).toThrow('rate limiter: maxKeys must be an integer >= 1, got 0');
    expect(() => new KeyedRateLimiter({ ratePerSec: -1, burst: 1, maxKeys: 1 })).toThrow('ratePerSec must be a finite number > 0');
  });

  it('never holds more than maxKeys buckets, however many keys arrive', () => {
    const { limiter } = setup(100);
    for (let i = 0; i < 10_000; i++) limiter.take(`client-${i}`);
    expect(limiter.size).toBe(100);
    expect(limiter.counters.evictions).toBe(9_900);
  });

  it('evicts the least recently used key (use refreshes recency)', () => {
    const { limiter } = setup(2);
    limiter.take('a');
    limiter.take('a');
    limiter.take('b');
    limiter.take('a'); // a is now the most recent (and limited)
    limiter.take('c'); // evicts b, not a
    expect(limiter.size).toBe(2);
    expect(limiter.take('a').ok).toBe(false); // a kept its empty bucket
    limiter.take('b'); // b comes back fresh; evicts c (a was used just now)
    expect(limiter.counters.evictions).toBe(2);
  });

  it('evicting an idle (full) key loses nothing; evicting an active one is counted', () => {
    const { limiter, advance } = setup(1);
    limiter.take('a');
    limiter.take('a'); // a empty
    limiter.take('b'); // evicts a before it refilled: state lost
    expect(limiter.counters).toMatchObject({ evictions: 1, evictedActive: 1 });
    advance(2_000); // b refills to full (burst 2 at 1/s)
    limiter.take('c'); // evicts b... which had taken one token 2 s ago: full again, nothing lost
    expect(limiter.counters).toMatchObject({ evictions: 2, evictedActive: 1 });
  });
});
