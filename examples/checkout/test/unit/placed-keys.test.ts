/**
 * The placed-keys filter: never "certainly not" for a key added (that would
 * let a reused key be journaled as a new order), and rarely "perhaps" for
 * one never added (each costs a place its fast path).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PlacedKeys } from '../../src/placed-keys.js';

const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

describe('placed keys', () => {
  it('has every key added (no false negatives), whatever the keys', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 200 }), (keys) => {
        const f = new PlacedKeys();
        for (const k of keys) f.add(digest(k));
        return keys.every((k) => f.mayHave(digest(k)));
      }),
    );
  });

  it('says "perhaps" for almost no key never added, at 100,000 keys', () => {
    const f = new PlacedKeys();
    for (let i = 0; i < 100_000; i++) f.add(digest(`placed-${i}`));
    let perhaps = 0;
    for (let i = 0; i < 100_000; i++) if (f.mayHave(digest(`other-${i}`))) perhaps++;
    // Expected about 1e-12 per key at this fill: any hit at all means the probes are not independent.
    expect(perhaps).toBe(0);
    expect(f.size).toBe(100_000);
  });

  it('refuses a digest too short to probe', () => {
    expect(() => new PlacedKeys().add('abc')).toThrow(/at least 16 hex digits/);
  });
});
