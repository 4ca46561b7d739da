import { describe, expect, it } from 'vitest';
import { FrameSplitter, lengthPrefix } from '../../src/transport/length-framing.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A frame of `length` bytes whose content names it. */
function frame(length: number, tag: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (tag + i) & 0xff);
}

function prefixed(...frames: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(frames.flatMap((f) => [lengthPrefix(f.length), f])));
}

function frames(result: Uint8Array[] | string): string[] {
  if (typeof result === 'string') throw new Error(result);
  return result.map(hex);
}

describe('lengthPrefix', () => {
  it('is the 24-bit big-endian length', () => {
    expect(hex(lengthPrefix(0))).toBe('000000');
    expect(hex(lengthPrefix(0x010203))).toBe('010203');
    expect(hex(lengthPrefix(0xffffff))).toBe('ffffff');
  });
});

describe('FrameSplitter', () => {
  it('returns one frame fed in one chunk', () => {
    const f = frame(10, 1);
    expect(frames(new FrameSplitter(1024).push(prefixed(f)))).toEqual([hex(f)]);
  });

  it('returns several frames from one chunk, in order', () => {
    const fs = [frame(6, 1), frame(100, 2), frame(7, 3)];
    expect(frames(new FrameSplitter(1024).push(prefixed(...fs)))).toEqual(fs.map(hex));
  });

  it('joins a frame split across chunks, including inside its length prefix', () => {
    const f = frame(20, 9);
    const bytes = prefixed(f);
    const splitter = new FrameSplitter(1024);
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const got = frames(splitter.push(bytes.subarray(i, i + 1)));
      if (i < bytes.length - 1) expect(got).toEqual([]);
      out.push(...got);
    }
    expect(out).toEqual([hex(f)]);
  });

  it('returns frames ending in one chunk and keeps the start of the next', () => {
    const a = frame(8, 1);
    const b = frame(12, 2);
    const bytes = prefixed(a, b);
    const splitter = new FrameSplitter(1024);
    expect(frames(splitter.push(bytes.subarray(0, 3 + 8 + 5)))).toEqual([hex(a)]);
    expect(frames(splitter.push(bytes.subarray(3 + 8 + 5)))).toEqual([hex(b)]);
  });

  it('any split of a stream of frames yields the same frames', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let run = 0; run < 200; run++) {
      const fs = Array.from({ length: 1 + Math.floor(rand() * 8) }, (_, i) => frame(6 + Math.floor(rand() * 300), run + i));
      const bytes = prefixed(...fs);
      const splitter = new FrameSplitter(4096);
      const out: string[] = [];
      for (let pos = 0; pos < bytes.length; ) {
        const n = 1 + Math.floor(rand() * 64);
        out.push(...frames(splitter.push(bytes.subarray(pos, pos + n))));
        pos += n;
      }
      expect(out).toEqual(fs.map(hex));
    }
  });

  it('accepts frames of exactly the limit and of exactly a header', () => {
    const max = frame(1024, 5);
    const min = frame(6, 6);
    expect(frames(new FrameSplitter(1024).push(prefixed(max, min)))).toEqual([hex(max), hex(min)]);
  });

  it('refuses a length over the limit as soon as the prefix arrives, before buffering the body', () => {
    expect(new FrameSplitter(1024).push(lengthPrefix(1025))).toBe('frame length 1025 is over the 1024-byte limit');
    expect(new FrameSplitter(2 * 1024 * 1024).push(Uint8Array.of(0xff, 0xff, 0xff))).toBe('frame length 16777215 is over the 2097152-byte limit');
  });

  it('refuses a length shorter than a frame header', () => {
    expect(new FrameSplitter(1024).push(Uint8Array.of(0, 0, 5, 1, 2, 3, 4, 5))).toBe('frame length 5 is shorter than a frame header');
    expect(new FrameSplitter(1024).push(Uint8Array.of(0, 0, 0))).toBe('frame length 0 is shorter than a frame header');
  });

  it('refuses a bad length that follows good frames in the same chunk', () => {
    const good = frame(6, 1);
    const bytes = Uint8Array.from([...prefixed(good), 0, 0, 1]);
    expect(new FrameSplitter(1024).push(bytes)).toBe('frame length 1 is shorter than a frame header');
  });

  it('waits while fewer than 3 bytes of prefix have arrived', () => {
    const splitter = new FrameSplitter(1024);
    expect(splitter.push(Uint8Array.of(0))).toEqual([]);
    expect(splitter.push(Uint8Array.of(0))).toEqual([]);
    expect(splitter.push(new Uint8Array(0))).toEqual([]);
    expect(frames(splitter.push(Uint8Array.of(6, 1, 2, 3, 4, 5, 6)))).toEqual(['010203040506']);
  });
});
