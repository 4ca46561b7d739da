import { describe, expect, it } from 'vitest';
import { IdentityShare, shareLimit } from '../../src/resilience/identity-share.js';

describe('IdentityShare', () => {
  it('gives each identity at most its limit, counts refusals, and keeps no entry for an identity holding nothing', () => {
    const share = new IdentityShare(2);
    const a1 = share.tryTake('a')!;
    const a2 = share.tryTake('a')!;
    expect(share.tryTake('a')).toBeUndefined();
    expect(share.rejected).toBe(1);
    const b1 = share.tryTake('b')!;
    expect(share.identities).toBe(2);
    a1();
    a1();
    expect(share.heldBy('a')).toBe(1);
    expect(share.tryTake('a')).toBeDefined();
    b1();
    expect(share.identities).toBe(1);
    a2();
    expect(share.heldBy('a')).toBe(1);
  });

  it('empties its map once every take is released, however many identities came and went', () => {
    const share = new IdentityShare(1);
    const releases = Array.from({ length: 1_000 }, (_, i) => share.tryTake(`ip:10.0.${i >> 8}.${i & 255}`)!);
    expect(share.identities).toBe(1_000);
    for (const r of releases) r();
    expect(share.identities).toBe(0);
  });

  it('tryEnter / leave count like tryTake and its release, without a function per take', () => {
    const share = new IdentityShare(2);
    expect(share.tryEnter('a')).toBe(true);
    expect(share.tryEnter('a')).toBe(true);
    expect(share.tryEnter('a')).toBe(false);
    expect(share.rejected).toBe(1);
    expect(share.tryTake('a')).toBeUndefined();
    share.leave('a');
    expect(share.heldBy('a')).toBe(1);
    const release = share.tryTake('a')!;
    expect(share.tryEnter('a')).toBe(false);
    release();
    share.leave('a');
    expect(share.heldBy('a')).toBe(0);
    expect(share.identities).toBe(0);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new IdentityShare(0)).toThrow('identity share: limit must be an integer >= 1, got 0');
    expect(() => new IdentityShare(1.5)).toThrow(RangeError);
  });
});

describe('shareLimit', () => {
  it('reads a value below 1 as a fraction of maxConcurrent (at least 1), and 1 or more as a count', () => {
    expect(shareLimit(0.5, 20_000)).toBe(10_000);
    expect(shareLimit(0.5, 5)).toBe(2);
    expect(shareLimit(0.1, 3)).toBe(1);
    expect(shareLimit(1, 100)).toBe(1);
    expect(shareLimit(16, 20_000)).toBe(16);
    expect(shareLimit(50_000, 20_000)).toBe(50_000);
  });
});
