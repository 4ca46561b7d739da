import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { FrameSplitter } from '../../src/transport/length-framing.js';
import { OutboundBatch, headerSize, type Framing } from '../../src/transport/outbound-batch.js';

// ws's own parser, as the peer runs it: an independent reading of what the batch writes.
interface WsReceiver {
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  write(chunk: Uint8Array): void;
}
const Receiver = (createRequire(import.meta.url)('ws') as { Receiver: unknown }).Receiver as new (o: { isServer: boolean; maxPayload: number }) => WsReceiver;

/** A frame of `length` bytes whose content names it. */
function frame(length: number, tag: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (tag + i * 7) & 0xff);
}

/** Flushes `frames` through a batch; returns the chunks written (copied, as the socket would have them). */
function written(framing: Framing, frames: Uint8Array[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const batch = new OutboundBatch(framing, (chunk) => {
    chunks.push(Uint8Array.from(chunk));
    return false;
  });
  for (const f of frames) batch.add(f);
  batch.flush();
  return chunks;
}

/** What a WebSocket peer receives from `chunks`: the binary messages, in order. */
function wsMessages(chunks: Uint8Array[], masked: boolean): Uint8Array[] {
  // A server-side receiver insists on masked frames, a client-side one on unmasked frames.
  const r = new Receiver({ isServer: masked, maxPayload: 0 });
  const out: Uint8Array[] = [];
  r.on('message', (data, isBinary) => {
    expect(isBinary).toBe(true);
    out.push(Uint8Array.from(data));
  });
  r.on('error', (err) => {
    throw err;
  });
  for (const c of chunks) r.write(c);
  return out;
}

const SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('OutboundBatch', () => {
  for (const framing of ['ws-server', 'ws-client'] as const) {
    it(`${framing}: frames of every header size arrive as the same binary messages, in order`, () => {
      const frames = SIZES.map((n, i) => frame(n, i));
      const messages = wsMessages(written(framing, frames), framing === 'ws-client');
      expect(messages.map(hex)).toEqual(frames.map(hex));
    });
  }

  it('ws-client: a burst of odd-length frames (every alignment of header, key and payload in the shared buffer) reads back exactly', () => {
    // Lengths around the 32-bit masking threshold and both sides of 126, so each frame starts at a different offset mod 4.
    const frames = Array.from({ length: 600 }, (_, i) => frame((i * 37) % 301, i));
    const chunks = written('ws-client', frames);
    expect(chunks.length).toBeGreaterThan(1); // more than one buffer's worth: the shared buffer is masked into again
    expect(wsMessages(chunks, true).map(hex)).toEqual(frames.map(hex));
  });

  it('ws-client: every frame has its own masking key', () => {
    const [chunk] = written('ws-client', [new Uint8Array(8), new Uint8Array(8)]);
    // Header (2) + key (4) + 8 zero bytes (masked: the key repeated) per frame.
    const first = chunk!.subarray(2, 6);
    const second = chunk!.subarray(16, 20);
    expect(hex(chunk!.subarray(6, 10))).toBe(hex(first));
    expect(hex(first)).not.toBe(hex(second));
  });

  it('length-prefixed: the splitter reads back every frame', () => {
    const frames = SIZES.map((n, i) => frame(Math.max(6, n), i));
    const splitter = new FrameSplitter(1 << 24);
    const got: string[] = [];
    for (const c of written('length-prefixed', frames)) {
      const r = splitter.push(c);
      if (typeof r === 'string') throw new Error(r);
      got.push(...r.map(hex));
    }
    expect(got).toEqual(frames.map(hex));
  });

  it('a burst of small frames is one write; large frames go behind their own header without a copy', () => {
    expect(written('ws-server', Array.from({ length: 200 }, (_, i) => frame(100, i)))).toHaveLength(1);
    const big = frame(20_000, 9);
    const chunks: Uint8Array[] = [];
    const batch = new OutboundBatch('ws-server', (c) => (chunks.push(c), false));
    batch.add(frame(10, 1));
    batch.add(big);
    batch.flush();
    expect(chunks).toHaveLength(3);
    expect(chunks[2]).toBe(big);
  });

  it('counts pending bytes with their framing until flushed, and clear() drops them unwritten', () => {
    let writes = 0;
    const batch = new OutboundBatch('ws-client', () => (writes++, false));
    expect(batch.add(frame(10, 1))).toBe(true);
    expect(batch.add(frame(300, 2))).toBe(false);
    expect(batch.pendingBytes).toBe(headerSize('ws-client', 10) + 10 + headerSize('ws-client', 300) + 300);
    batch.clear();
    expect(batch.pendingBytes).toBe(0);
    batch.flush();
    expect(writes).toBe(0);
  });

  it('a buffer the socket still holds is never written over by a later batch', () => {
    const held: Array<{ chunk: Uint8Array; copy: string }> = [];
    const batch = new OutboundBatch('ws-server', (chunk) => {
      held.push({ chunk, copy: hex(chunk) });
      return true; // queued in the socket, not yet written
    });
    for (let i = 0; i < 5; i++) {
      batch.add(frame(50, i));
      batch.flush();
    }
    for (const h of held) expect(hex(h.chunk)).toBe(h.copy);
  });

  it('refuses a frame a 24-bit length prefix cannot carry', () => {
    const batch = new OutboundBatch('length-prefixed', () => false);
    batch.add(new Uint8Array(0x1000000));
    expect(() => batch.flush()).toThrow(RangeError);
  });
});
