import { describe, expect, it } from 'vitest';
import { BlockPool } from '../../src/rsocket/block-pool.js';
import { Reassembler } from '../../src/rsocket/reassembler.js';

const u8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

describe('Reassembler', () => {
  it('concatenates metadata and data of every fragment and returns the pending request', () => {
    const r = new Reassembler(100);
    const request = { type: 6, requestN: 3, complete: false };
    expect(r.start(1, { metadata: u8('me'), data: null }, request)).toBe(true);
    expect(r.has(1)).toBe(true);
    expect(r.add(1, { metadata: u8('ta'), data: u8('da') }, true)).toBe('pending');
    const done = r.add(1, { metadata: null, data: u8('ta') }, false);
    if (typeof done === 'string') throw new Error(done);
    expect([text(done.payload.metadata), text(done.payload.data), done.request]).toEqual(['meta', 'data', request]);
    expect(r.has(1)).toBe(false);
  });

  it('has no metadata when no fragment carried any', () => {
    const r = new Reassembler(100);
    r.start(1, { metadata: null, data: u8('a') }, undefined);
    const done = r.add(1, { metadata: null, data: u8('b') }, false);
    if (typeof done === 'string') throw new Error(done);
    expect([done.payload.metadata, text(done.payload.data), done.request]).toEqual([null, 'ab', undefined]);
  });

  it('copies fragments: later changes to the transport buffers do not leak in', () => {
    const r = new Reassembler(100);
    const first = u8('abc');
    r.start(1, { metadata: null, data: first }, undefined);
    first.fill(0x7a);
    const done = r.add(1, { metadata: null, data: u8('d') }, false);
    if (typeof done === 'string') throw new Error(done);
    expect(text(done.payload.data)).toBe('abcd');
  });

  it('copies Node Buffer views too (Buffer#slice is a view): a held fragment keeps no transport buffer alive', () => {
    const r = new Reassembler(100);
    const socketRead = Buffer.from('xxabcxx');
    r.start(1, { metadata: null, data: socketRead.subarray(2, 5) }, undefined);
    socketRead.fill(0x7a);
    const done = r.add(1, { metadata: null, data: Buffer.from('d') }, false);
    if (typeof done === 'string') throw new Error(done);
    expect(text(done.payload.data)).toBe('abcd');
    expect(done.payload.data?.buffer).not.toBe(socketRead.buffer);
  });

  it('gives its blocks back to the pool however a payload ends, and hands out payloads that blocks reused later do not change', () => {
    const pool = new BlockPool(4, 1024);
    const r = new Reassembler(100, undefined, pool);
    r.start(1, { metadata: u8('m'), data: u8('123456') }, undefined);
    expect([r.bytes, pool.freeBytes]).toEqual([12, 0]);
    const done = r.add(1, { metadata: null, data: u8('7') }, false);
    if (typeof done === 'string') throw new Error(done);
    expect([r.bytes, pool.freeBytes]).toEqual([0, 12]);
    r.start(3, { metadata: null, data: u8('zzzzzzzzzzzz') }, undefined);
    expect([text(done.payload.metadata), text(done.payload.data)]).toEqual(['m', '1234567']);
    r.abandonAll();
    r.start(5, { metadata: null, data: u8('z') }, undefined);
    r.clear();
    expect([r.bytes, pool.freeBytes]).toEqual([0, 12]);
  });

  it('refuses a payload over maxSize (metadata + data) and forgets it', () => {
    const r = new Reassembler(8);
    expect(r.start(1, { metadata: u8('1234'), data: u8('5678') }, undefined)).toBe(true);
    expect(r.add(1, { metadata: null, data: u8('9') }, true)).toBe('too-large');
    expect(r.has(1)).toBe(false);
    expect(r.add(1, { metadata: null, data: u8('0') }, false)).toBe('too-large');
    expect(r.start(3, { metadata: null, data: u8('123456789') }, undefined)).toBe(false);
    expect(r.has(3)).toBe(false);
  });

  it(`holds at most ${Reassembler.MAX_CONCURRENT} payloads at once`, () => {
    const r = new Reassembler(100);
    for (let i = 0; i < Reassembler.MAX_CONCURRENT; i++) {
      expect(r.full).toBe(false);
      expect(r.start(i, { metadata: null, data: u8('x') }, undefined)).toBe(true);
    }
    expect(r.full).toBe(true);
    expect(r.start(99, { metadata: null, data: u8('x') }, undefined)).toBe(false);
    r.drop(0);
    expect(r.full).toBe(false);
    r.clear();
    expect(r.has(1)).toBe(false);
  });
});

describe('Reassembler time and bytes', () => {
  it('expire() drops payloads started by the given time, oldest first, and keeps the rest', () => {
    const r = new Reassembler(100, undefined, new BlockPool(1, 64));
    r.start(1, { metadata: null, data: u8('a') }, undefined, 10);
    r.start(3, { metadata: null, data: u8('bb') }, { type: 4, requestN: 0, complete: false }, 20);
    r.start(5, { metadata: null, data: u8('ccc') }, undefined, 30);
    expect(r.oldestStartedAt).toBe(10);
    expect(r.bytes).toBe(6);
    expect(r.expire(20)).toEqual([
      { streamId: 1, request: undefined },
      { streamId: 3, request: { type: 4, requestN: 0, complete: false } },
    ]);
    expect([r.has(1), r.has(3), r.has(5), r.oldestStartedAt, r.bytes]).toEqual([false, false, true, 30, 3]);
    expect(r.abandonAll()).toEqual([{ streamId: 5, request: undefined }]);
    expect([r.oldestStartedAt, r.bytes]).toEqual([undefined, 0]);
  });

  it('reports the bytes it holds (whole blocks) to its memory holder, and gives them back however a payload ends', () => {
    let held = 0;
    const holder = { kind: 'reassembly' as const, bytes: 0, set: (n: number) => (held = n), add: (d: number) => (held += d), release: () => (held = 0) };
    const r = new Reassembler(10, holder, new BlockPool(2, 64));
    r.start(1, { metadata: u8('m'), data: u8('12') }, undefined);
    r.start(3, { metadata: null, data: u8('1234') }, undefined);
    expect(held).toBe(2 + 2 + 4);
    r.add(1, { metadata: null, data: u8('3') }, true);
    expect(held).toBe(2 + 4 + 4);
    r.add(1, { metadata: null, data: u8('4') }, false);
    expect(held).toBe(4);
    expect(r.add(3, { metadata: null, data: u8('1234567') }, true)).toBe('too-large');
    expect(held).toBe(0);
    r.start(5, { metadata: null, data: u8('1') }, undefined);
    r.drop(5);
    expect(held).toBe(0);
  });
});
