/**
 * Bytes kept past their socket read are copies of their own: a Node Buffer's
 * slice() is a view, so a "copy" made with it pinned the whole read and saw
 * later writes into it. Each keeper is checked with a Buffer view, as the
 * transports hand bytes over.
 */
import { describe, expect, it } from 'vitest';
import { copyOf } from '../../src/protocol/copy-bytes.js';
import { RouteCache } from '../../src/policy/response-cache.js';
import { commandOf } from '../../src/durable/intake.js';
import { MimeTypes, decodeComposite, encodeComposite, encodeRoutes } from '../../src/protocol/metadata.js';

/** `bytes` in the middle of a 64 KiB Buffer, as a socket read hands them over. */
function inRead(bytes: Uint8Array): { read: Buffer; view: Buffer } {
  const read = Buffer.alloc(64 * 1024, 0xee);
  read.set(bytes, 100);
  return { read, view: read.subarray(100, 100 + bytes.length) };
}

const text = (s: string) => new TextEncoder().encode(s);

describe('copyOf', () => {
  it('copies a Buffer view and a Uint8Array view into buffers of their own size', () => {
    const { read, view } = inRead(text('hello'));
    for (const v of [view, new Uint8Array(read.buffer, read.byteOffset + 100, 5)]) {
      const copy = copyOf(v);
      expect(copy.buffer).not.toBe(read.buffer);
      expect(copy.buffer.byteLength).toBe(5);
      expect(new TextDecoder().decode(copy)).toBe('hello');
    }
  });

  it('is what Buffer#slice is not: later writes into the read do not show', () => {
    const { read, view } = inRead(text('hello'));
    const copy = copyOf(view);
    const buggy = view.slice();
    read.fill(0, 100, 105);
    expect(new TextDecoder().decode(copy)).toBe('hello');
    // Why the helper exists: Buffer's own slice shares the read.
    expect([...buggy]).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('what the gateway keeps is copied out of the read', () => {
  it('a cached answer', () => {
    const c = new RouteCache('r', { ttlMs: 100, staleIfErrorMs: 0, maxEntries: 10, maxBytes: 1 << 20 }, () => 0);
    const { read, view } = inRead(text('"answer"'));
    c.store('k', { data: view, metadata: null });
    read.fill(0);
    const hit = c.fresh('k')!;
    expect(new TextDecoder().decode(hit.data!)).toBe('"answer"');
    expect(hit.data!.buffer.byteLength).toBeLessThan(1024);
  });

  it('a command taken into a durable queue', () => {
    const metadata = encodeComposite([{ mimeType: MimeTypes.ROUTING, content: encodeRoutes('orders.place') }]);
    const data = inRead(text('{"id":1}'));
    const meta = inRead(metadata);
    const { payload } = commandOf('orders.place', { data: data.view, metadata: meta.view }, decodeComposite(meta.view));
    data.read.fill(0);
    meta.read.fill(0);
    expect(new TextDecoder().decode(payload.data!)).toBe('{"id":1}');
    expect([...payload.metadata!]).toEqual([...metadata]);
    expect(payload.data!.buffer.byteLength).toBe(8);
    expect(payload.metadata!.buffer.byteLength).toBe(metadata.length);
  });
});
