/**
 * The forwarder's per-connection cache of the last request metadata
 * (src/broker/request-heads.ts): whatever sequence of metadata a connection
 * sends, each request's head is what decoding its own bytes gives (same
 * entries, same route, same refusal), from a buffer of its own; only the
 * last successful decode of at most MAX_CACHED_METADATA bytes is kept.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_CACHED_METADATA, RequestHeads, type HeadDecoder } from '../../src/broker/request-heads.js';
import { ownBytes } from '../../src/broker/own-bytes.js';
import { MetadataError, MimeTypes, decodeComposite, decodeRoutes, encodeComposite, encodeRoutes, type MetadataEntry } from '../../src/protocol/metadata.js';

/** The forwarder's decoding, as plain functions of the bytes (refusals as thrown errors). */
const decoder: HeadDecoder = {
  entries: (m) => (m && m.length > 0 ? decodeComposite(m) : []),
  route: (entries) => {
    const e = entries.find((x) => x.mimeType === MimeTypes.ROUTING);
    const route = e ? decodeRoutes(e.content)[0] : undefined;
    if (route === undefined) throw new MetadataError('no route');
    return route;
  },
};

/** What the slow path gives for `metadata`: the plain head, or the error's message. */
function fresh(metadata: Uint8Array | null): { ok: true; metadata: number[] | null; entries: unknown; route: string } | { ok: false; error: string } {
  try {
    const entries = decoder.entries(metadata);
    const route = decoder.route(entries);
    return { ok: true, metadata: metadata ? [...metadata] : null, entries: plain(entries), route };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function cached(heads: RequestHeads, metadata: Uint8Array | null): ReturnType<typeof fresh> {
  try {
    const head = heads.read(metadata);
    return { ok: true, metadata: head.metadata ? [...head.metadata] : null, entries: plain(head.entries), route: head.route };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

const plain = (entries: readonly MetadataEntry[]) => entries.map((e) => ({ mimeType: e.mimeType, content: [...e.content] }));

function routed(route: string, extra: MetadataEntry[] = []): Uint8Array {
  return encodeComposite([{ mimeType: MimeTypes.ROUTING, content: encodeRoutes(route) }, ...extra]);
}

/** `bytes` as a view in the middle of a larger Buffer, as a socket read hands it over. */
function inRead(bytes: Uint8Array): Uint8Array {
  const read = Buffer.alloc(bytes.length + 16, 0xee);
  read.set(bytes, 8);
  return read.subarray(8, 8 + bytes.length);
}

describe('RequestHeads', () => {
  it('agrees with decoding every request afresh, whatever the sequence (repeats, near-misses, garbage, none)', () => {
    const routes = fc.constantFrom('a.b', 'a.c', 'bench.echo', 'x');
    const valid = fc.tuple(routes, fc.uint8Array({ maxLength: 8 })).map(([r, extra]) => routed(r, extra.length ? [{ mimeType: 'application/x.t', content: extra }] : []));
    const metadata = fc.oneof(
      valid,
      // A valid one with one byte changed: equal length, different bytes.
      fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([m, at, x]) => {
        const c = m.slice();
        c[at % c.length] = c[at % c.length]! ^ x;
        return c;
      }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constant(null),
      fc.constant(new Uint8Array(0)),
      // Over the size that is remembered.
      routes.map((r) => routed(r, [{ mimeType: 'application/x.pad', content: new Uint8Array(MAX_CACHED_METADATA) }])),
    );
    fc.assert(
      fc.property(fc.array(metadata, { maxLength: 30 }), (sequence) => {
        const heads = new RequestHeads(decoder);
        for (const m of sequence) {
          const view = m ? inRead(m) : null;
          expect(cached(heads, view)).toEqual(fresh(m));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a repeat of the last bytes is a hit that returns the same head; other bytes replace it', () => {
    const heads = new RequestHeads(decoder);
    const a = heads.read(inRead(routed('a.b')));
    expect(heads.read(inRead(routed('a.b')))).toBe(a);
    expect(heads.hits).toBe(1);
    const c = heads.read(inRead(routed('a.c')));
    expect(c.route).toBe('a.c');
    // Only the last is kept: going back to the first is a miss.
    expect(heads.read(inRead(routed('a.b')))).not.toBe(a);
    expect(heads.misses).toBe(3);
  });

  it('a request differing from the last in any one byte is decoded afresh', () => {
    const base = routed('bench.echo', [{ mimeType: 'application/x.t', content: new Uint8Array([1, 2, 3]) }]);
    for (let at = 0; at < base.length; at++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const heads = new RequestHeads(decoder);
        heads.read(inRead(base));
        const changed = base.slice();
        changed[at] = changed[at]! ^ x;
        expect(cached(heads, inRead(changed))).toEqual(fresh(changed));
        expect(heads.hits).toBe(0);
      }
    }
  });

  it('keeps its own copy of the bytes: the socket read may be reused, and a head pins no more than its metadata', () => {
    const heads = new RequestHeads(decoder);
    const view = inRead(routed('a.b'));
    const head = heads.read(view);
    expect(head.metadata!.buffer).not.toBe(view.buffer);
    expect(head.metadata!.byteLength).toBe(head.metadata!.buffer.byteLength);
    view.fill(0); // the transport reuses its read buffer
    expect(head.route).toBe('a.b');
    expect(heads.read(inRead(routed('a.b')))).toBe(head);
    expect(plain(head.entries)).toEqual(plain(decodeComposite(routed('a.b'))));
  });

  it('copies out of a plain Uint8Array read and a Node Buffer read alike (a Buffer view\'s own slice would share its memory)', () => {
    for (const read of [new Uint8Array(64), Buffer.alloc(64)]) {
      const view = read.subarray(8, 24);
      const copy = ownBytes(view)!;
      expect(copy.buffer).not.toBe(read.buffer);
      // From Buffer's pool: it pins at most one pool slab, not the read.
      expect(copy.buffer.byteLength).toBeLessThanOrEqual(Buffer.poolSize);
      expect([...copy]).toEqual([...view]);
      read.fill(0xaa);
      expect(copy[0]).not.toBe(0xaa);
    }
    // Already alone in its buffer: kept as it is.
    const alone = new Uint8Array(8);
    expect(ownBytes(alone)).toBe(alone);
    expect(ownBytes(null)).toBeNull();
  });

  it('shares nothing writable: the remembered entries are frozen', () => {
    const head = new RequestHeads(decoder).read(inRead(routed('a.b')));
    expect(Object.isFrozen(head.entries)).toBe(true);
    expect(Object.isFrozen(head.entries[0])).toBe(true);
  });

  it('does not remember metadata over MAX_CACHED_METADATA bytes', () => {
    const heads = new RequestHeads(decoder);
    const big = routed('a.b', [{ mimeType: 'application/x.pad', content: new Uint8Array(MAX_CACHED_METADATA) }]);
    expect(big.length).toBeGreaterThan(MAX_CACHED_METADATA);
    const first = heads.read(inRead(big));
    const second = heads.read(inRead(big));
    expect(second).not.toBe(first);
    expect(second.route).toBe('a.b');
    expect(heads.hits).toBe(0);
    // At the limit it is remembered.
    const pad = MAX_CACHED_METADATA - routed('a.b', [{ mimeType: 'application/x.pad', content: new Uint8Array(0) }]).length;
    const edge = routed('a.b', [{ mimeType: 'application/x.pad', content: new Uint8Array(pad) }]);
    expect(edge.length).toBe(MAX_CACHED_METADATA);
    expect(heads.read(inRead(edge))).toBe(heads.read(inRead(edge)));
  });

  it('a refused request leaves the remembered head in place, and is refused again next time', () => {
    const heads = new RequestHeads(decoder);
    const good = heads.read(inRead(routed('a.b')));
    const noRoute = encodeComposite([{ mimeType: 'text/plain', content: new Uint8Array([1]) }]);
    expect(() => heads.read(inRead(noRoute))).toThrow('no route');
    expect(() => heads.read(inRead(noRoute))).toThrow('no route');
    expect(heads.read(inRead(routed('a.b')))).toBe(good);
  });

  it('tells no metadata from empty metadata (the forwarded frame keeps the difference)', () => {
    const heads = new RequestHeads({ entries: decoder.entries, route: () => 'r' });
    expect(heads.read(null).metadata).toBeNull();
    expect(heads.read(new Uint8Array(0)).metadata).toEqual(new Uint8Array(0));
    expect(heads.read(null).metadata).toBeNull();
  });
});
