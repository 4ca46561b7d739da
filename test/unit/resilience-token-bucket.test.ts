import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/resilience/token-bucket.js';

function setup(ratePerSec: number, burst: number) {
  let now = 0;
  const bucket = new TokenBucket({ ratePerSec, burst }, () => now);
  return { bucket, advance: (ms: number) => (now += ms) };
}

describe('TokenBucket', () => {
  it('starts full: allows a burst of `burst`, then limits', () => {
    const { bucket } = setup(10, 3);
    expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 100 });
  });

  it('refills at ratePerSec, never above burst', () => {
    const { bucket, advance } = setup(10, 3);
    for (let i = 0; i < 3; i++) bucket.take();
    advance(250); // 2.5 tokens
    expect(bucket.available()).toBeCloseTo(2.5);
    expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 50 }); // 0.5 missing at 10/s
    advance(60_000);
    expect(bucket.available()).toBe(3);
    expect(bucket.isFull()).toBe(true);
  });

  it('sustains exactly ratePerSec over time', () => {
    const { bucket, advance } = setup(5, 1);
    let allowed = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      if (bucket.take().ok) allowed++;
      advance(10);
    }
    expect(allowed).toBe(50); // 5/s for 10 s (the first from the initial burst)
  });

  it('retryAfterMs is the time until n tokens, rounded up, and waiting that long succeeds', () => {
    const { bucket, advance } = setup(3, 5);
    expect(bucket.take(5)).toEqual({ ok: true });
    const denied = bucket.take(2);
    expect(denied).toEqual({ ok: false, retryAfterMs: 667 }); // 2 tokens at 3/s = 666.67 ms
    advance(666);
    expect(bucket.take(2).ok).toBe(false);
    advance(1);
    expect(bucket.take(2)).toEqual({ ok: true });
  });

  it('a refused take takes nothing', () => {
    const { bucket, advance } = setup(1, 2);
    bucket.take(2);
    advance(500);
    expect(bucket.take(1).ok).toBe(false);
    advance(500);
    expect(bucket.take(1).ok).toBe(true);
  });

  it('take(n) needs 0 < n <= burst', () => {
    const { bucket } = setup(1, 2);
    expect(() => bucket.take(3)).toThrow('token bucket: take(n) needs 0 < n <= burst (2), got 3');
    expect(() => bucket.take(0)).toThrow(RangeError);
    expect(() => bucket.take(Number.NaN)).toThrow(RangeError);
  });

  it('validates its options', () => {
    expect(() => new TokenBucket({ ratePerSec: 0, burst: 1 })).toThrow('token bucket: ratePerSec must be a finite number > 0, got 0');
    expect(() => new TokenBucket({ ratePerSec: 1, burst: 0.5 })).toThrow('token bucket: burst must be a finite number >= 1, got 0.5');
    expect(() => new TokenBucket({ ratePerSec: Infinity, burst: 1 })).toThrow(RangeError);
  });

  it('does not go wrong if the clock stands still or steps back', () => {
    let now = 1_000;
    const bucket = new TokenBucket({ ratePerSec: 1, burst: 1 }, () => now);
    bucket.take();
    now = 500;
    expect(bucket.available()).toBe(0);
    now = 1_500;
    expect(bucket.available()).toBe(1);
  });
});
