import { describe, expect, it } from 'vitest';
import { BlockChain, BlockPool } from '../../src/rsocket/block-pool.js';

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe('BlockPool', () => {
  it('reuses blocks given back, and keeps at most maxFreeBytes of them', () => {
    const pool = new BlockPool(4, 8);
    const [a, b, c] = [pool.take(), pool.take(), pool.take()];
    pool.give([a, b, c]);
    expect(pool.freeBytes).toBe(8);
    const again = [pool.take(), pool.take(), pool.take()];
    expect(again.slice(0, 2).sort()).toEqual([a, b].sort());
    expect(again[2]).not.toBe(c);
    expect(pool.freeBytes).toBe(0);
  });

  it('refuses a block size that is not a positive integer', () => {
    expect(() => new BlockPool(0)).toThrow(RangeError);
    expect(() => new BlockPool(1.5)).toThrow(RangeError);
  });
});

describe('BlockChain', () => {
  it('keeps appended bytes across blocks, holds them in whole blocks, and copies them out', () => {
    const pool = new BlockPool(4, 64);
    const chain = new BlockChain(pool);
    chain.append(bytes(3));
    chain.append(bytes(6, 3));
    expect([chain.length, chain.heldBytes]).toEqual([9, 12]);
    const out = chain.bytes();
    expect(out).toEqual(bytes(9));
    chain.release();
    expect([chain.length, chain.heldBytes, pool.freeBytes]).toEqual([0, 0, 12]);
    // The copy is the caller's: blocks reused by another chain do not change it.
    const other = new BlockChain(pool);
    other.append(new Uint8Array(12).fill(0xee));
    expect(out).toEqual(bytes(9));
  });
});
