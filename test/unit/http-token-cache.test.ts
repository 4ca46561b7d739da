/**
 * The HTTP bridge's verified-token cache on its own: bounded with the least
 * recently used dropped first, never used at or past the token's expiry or
 * its maximum age, emptied by clear(), and deaf to a verification that
 * started before the clear.
 */
import { describe, expect, it } from 'vitest';
import { TokenCache } from '../../src/http/token-cache.js';

function cache(maxEntries: number, maxAgeMs = 60_000) {
  let now = 1_000_000;
  const c = new TokenCache<string>({ maxEntries, maxAgeMs, now: () => now });
  return { c, advance: (ms: number) => (now += ms), now: () => now };
}

describe('TokenCache', () => {
  it('holds at most maxEntries, dropping the least recently used', () => {
    const { c, now } = cache(3);
    for (const t of ['a', 'b', 'c']) c.set(t, t.toUpperCase(), undefined, c.generation);
    expect(c.get('a')).toBe('A'); // a is now the most recent: b goes first
    c.set('d', 'D', now() + 10_000, c.generation);
    c.set('e', 'E', now() + 10_000, c.generation);
    expect(c.size).toBe(3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('c')).toBeUndefined();
    expect([c.get('a'), c.get('d'), c.get('e')]).toEqual(['A', 'D', 'E']);
  });

  it("is never used at or past the token's expiry, nor past its maximum age", () => {
    const { c, advance, now } = cache(10, 5_000);
    c.set('short', 'S', now() + 1_000, c.generation);
    c.set('noexp', 'N', undefined, c.generation);
    c.set('expired', 'X', now(), c.generation);
    expect(c.get('expired')).toBeUndefined();
    advance(999);
    expect(c.get('short')).toBe('S');
    advance(1);
    expect(c.get('short')).toBeUndefined();
    expect(c.get('noexp')).toBe('N');
    advance(4_000);
    expect(c.get('noexp')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('clear() forgets everything and refuses what was verified before it', () => {
    const { c, now } = cache(10);
    c.set('a', 'A', now() + 10_000, c.generation);
    const before = c.generation;
    c.clear();
    expect(c.get('a')).toBeUndefined();
    c.set('b', 'B', now() + 10_000, before);
    expect(c.get('b')).toBeUndefined();
    c.set('b', 'B', now() + 10_000, c.generation);
    expect(c.get('b')).toBe('B');
  });

  it('with 0 entries caches nothing', () => {
    const { c, now } = cache(0);
    c.set('a', 'A', now() + 10_000, c.generation);
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });
});
