import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskCopy, maskCopyBytes, maskInPlace, wordView } from '../../src/transport/ws-mask.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Masks `src` into a fresh buffer at `o` (the buffer starting `shift` bytes into its ArrayBuffer) both ways; returns both results, whole. */
function both(src: Uint8Array, key: Uint8Array, k: number, o: number, shift: number): { fast: Uint8Array; slow: Uint8Array } {
  const size = shift + o + src.length + 8;
  const make = () => new Uint8Array(new ArrayBuffer(size + (4 - (size & 3))), shift, o + src.length + 8).fill(0xa5);
  const fast = make();
  const slow = make();
  maskCopy(fast, wordView(fast), o, src, key, k);
  maskCopyBytes(slow, o, src, key, k);
  return { fast, slow };
}

describe('WebSocket masking', () => {
  it('masks as RFC 6455 section 5.7 shows ("Hello" under key 37 fa 21 3d)', () => {
    const key = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
    const out = new Uint8Array(8);
    maskCopy(out, wordView(out), 0, Buffer.from('Hello'), key, 0);
    expect(hex(out.subarray(0, 5))).toBe('7f9f4d5158');
  });

  it('the 32-bit path agrees with the byte loop and touches nothing outside the copy, for every head and tail phase', () => {
    const key = Uint8Array.of(0x00, 0x37, 0xfa, 0x21, 0x3d, 0xff);
    for (let len = 0; len <= 70; len++) {
      const backing = new Uint8Array(len + 8).map((_, i) => (i * 31 + 7) & 0xff);
      for (let srcShift = 0; srcShift < 4; srcShift++) {
        const src = backing.subarray(srcShift, srcShift + len);
        for (let o = 0; o < 4; o++) {
          for (let shift = 0; shift < 4; shift++) {
            const { fast, slow } = both(src, key, 1, o, shift);
            expect(hex(fast)).toBe(hex(slow));
          }
        }
      }
    }
  });

  it('masking twice with the same key gives the bytes back (what the peer does to read them)', () => {
    const src = Uint8Array.from({ length: 1001 }, (_, i) => i & 0xff);
    const key = Uint8Array.of(1, 2, 3, 4);
    const once = new Uint8Array(1010);
    maskCopy(once, wordView(once), 3, src, key, 0);
    const twice = new Uint8Array(1010);
    maskCopy(twice, wordView(twice), 5, once.subarray(3, 3 + src.length), key, 0);
    expect(hex(twice.subarray(5, 5 + src.length))).toBe(hex(src));
  });

  it('property: agrees with the byte loop for any payload, key, key offset, output offset and buffer offset', () => {
    fc.assert(
      fc.property(
        // size 'max': lengths spread over the whole range, not fast-check's usual small arrays (which stay on the byte path).
        fc.uint8Array({ maxLength: 600, size: 'max' }),
        fc.uint8Array({ minLength: 4, maxLength: 12 }),
        fc.nat(8),
        fc.nat(64),
        fc.nat(7),
        (src, keyPool, k, o, shift) => {
          const kk = Math.min(k, keyPool.length - 4);
          const { fast, slow } = both(src, keyPool, kk, o, shift);
          expect(hex(fast)).toBe(hex(slow));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: unmasking in place (the frame reader, a payload where it lies in its read) agrees with the byte loop and touches nothing else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600, size: 'max' }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat(64),
        fc.nat(7),
        (payload, key, at, shift) => {
          const size = shift + at + payload.length + 8;
          const buf = new Uint8Array(new ArrayBuffer(size + 4), shift, at + payload.length + 8).fill(0x5a);
          buf.set(payload, at);
          const expected = Uint8Array.from(buf);
          maskCopyBytes(expected, at, payload, key, 0);
          maskInPlace(buf, wordView(buf), at, payload.length, key[0]!, key[1]!, key[2]!, key[3]!);
          expect(hex(buf)).toBe(hex(expected));
        },
      ),
      { numRuns: 500 },
    );
  });
});
