/**
 * The WebSocket frame reader, fuzzed for both ends: valid client traffic
 * (masked with random keys, as the gateway reads it) and valid server traffic
 * (unmasked, as the Node client and services read it), binary messages split
 * into fragments with pings and pongs between them, cut at random chunk
 * boundaries, comes out as exactly the
 * messages and pings sent, in order; each kind of invalid frame fails with
 * the close code RFC 6455 names, wherever the chunks are cut; and arbitrary
 * bytes never throw.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, WsFrameReader, type WsFrameSink, type WsPeer, type WsProtocolError } from '../../src/transport/ws-frame-reader.js';
import { wsFrame, type WsFrameOptions } from '../helpers/ws-frames.js';

interface Wire extends WsFrameOptions {
  opcode: number;
  payload: Uint8Array;
}

/** Who writes the frames of the suite being run: clients mask them, servers do not. */
let peer: WsPeer = 'client';

/** One frame, as a browser or `ws` writes it (masked by default when the suite reads a client's), with a fixed key. */
function frame({ opcode, payload, masked = peer === 'client', key = [0x12, 0x34, 0x56, 0x78], ...rest }: Wire): Uint8Array {
  return wsFrame(opcode, payload, { masked, key, ...rest });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Cuts `bytes` at the given points (fractions of its length); each chunk a Buffer of its own, as sockets deliver. */
function cut(bytes: Uint8Array, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => Math.floor(p * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const a of [...at, bytes.length]) {
    if (a > prev) chunks.push(Buffer.from(bytes.subarray(prev, a)));
    prev = Math.max(prev, a);
  }
  return chunks;
}

function recorder() {
  const seen: { kind: string; bytes?: number[]; code?: number; reason?: string }[] = [];
  const sink: WsFrameSink = {
    onMessage: (d) => seen.push({ kind: 'message', bytes: [...d] }),
    onText: () => seen.push({ kind: 'text' }),
    onPing: (p) => seen.push({ kind: 'ping', bytes: [...p] }),
    onCloseFrame: (code, reason) => seen.push({ kind: 'close', ...(code !== undefined ? { code } : {}), reason }),
  };
  return { seen, sink };
}

function feed(chunks: Uint8Array[], maxPayload = 1 << 20, maxFragments?: number) {
  const { seen, sink } = recorder();
  const reader = new WsFrameReader(sink, maxPayload, maxFragments, peer);
  let error: WsProtocolError | undefined;
  for (const c of chunks) {
    error = reader.push(c);
    if (error) break;
  }
  return { seen, error, reader };
}

const key = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

/** A message: its bytes and how it is split into fragments (cut points), with control frames between fragments. */
const message = fc.record({
  data: fc.oneof({ weight: 6, arbitrary: bytes(300) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 65536, maxLength: 70000 }) }),
  splits: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
  pings: fc.array(fc.oneof(fc.constant('pong' as const), bytes(125)), { maxLength: 2 }),
  keys: fc.array(key, { minLength: 4, maxLength: 4 }),
});

describe.each<WsPeer>(['client', 'server'])('WsFrameReader reading a %s', (writer) => {
  // Set while the cases below are built, and again before they run (after every suite is built).
  peer = writer;
  beforeAll(() => {
    peer = writer;
  });

  it('hands on exactly the messages and pings sent, in order, whatever the fragments and chunk boundaries', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), cuts, (messages, points) => {
        const wire: Uint8Array[] = [];
        const expected: { kind: string; bytes: number[] }[] = [];
        for (const m of messages) {
          const at = [...new Set(m.splits.map((s) => Math.floor(s * m.data.length)))].sort((a, b) => a - b);
          const pieces: Uint8Array[] = [];
          let prev = 0;
          for (const a of [...at, m.data.length]) {
            pieces.push(m.data.subarray(prev, Math.max(prev, a)));
            prev = Math.max(prev, a);
          }
          pieces.forEach((piece, i) => {
            const last = i === pieces.length - 1;
            // Control frames before the final fragment: between fragments when there are several.
            if (last) {
              for (const p of m.pings) {
                if (p === 'pong') wire.push(frame({ opcode: 0xa, payload: new Uint8Array(3), key: m.keys[0]! }));
                else {
                  wire.push(frame({ opcode: 0x9, payload: p, key: m.keys[1]! }));
                  expected.push({ kind: 'ping', bytes: [...p] });
                }
              }
            }
            wire.push(frame({ fin: last, opcode: i === 0 ? 0x2 : 0x0, payload: piece, key: m.keys[i % 4]! }));
          });
          expected.push({ kind: 'message', bytes: [...m.data] });
        }
        const { seen, error } = feed(cut(concat(wire), points));
        expect(error).toBeUndefined();
        expect(seen).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('a close frame ends reading with its code and reason; what follows is not read', () => {
    fc.assert(
      fc.property(cuts, (points) => {
        const body = concat([Uint8Array.of(0x0f, 0xa0), new TextEncoder().encode('bye ✓')]);
        const wire = concat([frame({ opcode: 0x2, payload: Uint8Array.of(1, 2) }), frame({ opcode: 0x8, payload: body }), frame({ opcode: 0x2, payload: Uint8Array.of(3) })]);
        const { seen, error, reader } = feed(cut(wire, points));
        expect(error).toBeUndefined();
        expect(seen).toEqual([
          { kind: 'message', bytes: [1, 2] },
          { kind: 'close', code: 4000, reason: 'bye ✓' },
        ]);
        expect(reader.done).toBe(true);
      }),
    );
    expect(feed([frame({ opcode: 0x8, payload: new Uint8Array(0) })]).seen).toEqual([{ kind: 'close', reason: '' }]);
  });

  it('a text message is reported once and ends reading', () => {
    const { seen, error, reader } = feed([concat([frame({ opcode: 0x1, payload: new TextEncoder().encode('{}') }), frame({ opcode: 0x2, payload: Uint8Array.of(1) })])]);
    expect(error).toBeUndefined();
    expect(seen).toEqual([{ kind: 'text' }]);
    expect(reader.done).toBe(true);
  });

  const invalid: [string, Uint8Array[], number][] = [
    [writer === 'client' ? 'an unmasked frame' : 'a masked frame', [frame({ opcode: 0x2, payload: Uint8Array.of(1), masked: writer !== 'client' })], CloseCode.PROTOCOL_ERROR],
    ['RSV1 without an extension', [frame({ opcode: 0x2, rsv: 4, payload: Uint8Array.of(1) })], CloseCode.PROTOCOL_ERROR],
    ['RSV3 without an extension', [frame({ opcode: 0x2, rsv: 1, payload: Uint8Array.of(1) })], CloseCode.PROTOCOL_ERROR],
    ['a reserved data opcode', [frame({ opcode: 0x3, payload: Uint8Array.of(1) })], CloseCode.PROTOCOL_ERROR],
    ['a reserved control opcode', [frame({ opcode: 0xb, payload: new Uint8Array(0) })], CloseCode.PROTOCOL_ERROR],
    ['a fragmented ping', [frame({ fin: false, opcode: 0x9, payload: new Uint8Array(0) })], CloseCode.PROTOCOL_ERROR],
    ['a ping of 126 bytes', [frame({ opcode: 0x9, payload: new Uint8Array(126) })], CloseCode.PROTOCOL_ERROR],
    ['a continuation with no message', [frame({ opcode: 0x0, payload: Uint8Array.of(1) })], CloseCode.PROTOCOL_ERROR],
    ['a new message inside a fragmented one', [frame({ fin: false, opcode: 0x2, payload: Uint8Array.of(1) }), frame({ opcode: 0x2, payload: Uint8Array.of(2) })], CloseCode.PROTOCOL_ERROR],
    ['a close frame with one byte', [frame({ opcode: 0x8, payload: Uint8Array.of(3) })], CloseCode.PROTOCOL_ERROR],
    ['a close code that may not be sent (1005)', [frame({ opcode: 0x8, payload: Uint8Array.of(0x03, 0xed) })], CloseCode.PROTOCOL_ERROR],
    ['a close code out of range (999)', [frame({ opcode: 0x8, payload: Uint8Array.of(0x03, 0xe7) })], CloseCode.PROTOCOL_ERROR],
    ['a close reason that is not UTF-8', [frame({ opcode: 0x8, payload: Uint8Array.of(0x03, 0xe8, 0xff, 0xfe) })], CloseCode.INVALID_PAYLOAD],
    ['a message over the limit in one frame', [frame({ opcode: 0x2, payload: new Uint8Array(1025) })], CloseCode.MESSAGE_TOO_BIG],
    ['a message over the limit in fragments', [frame({ fin: false, opcode: 0x2, payload: new Uint8Array(600) }), frame({ opcode: 0x0, payload: new Uint8Array(600) })], CloseCode.MESSAGE_TOO_BIG],
    ['a 64-bit length with its high word set', [frame({ opcode: 0x2, payload: new Uint8Array(4), high: 1 })], CloseCode.MESSAGE_TOO_BIG],
    ['a message in more fragments than allowed', Array.from({ length: 6 }, (_, i) => frame({ fin: false, opcode: i === 0 ? 0x2 : 0x0, payload: new Uint8Array(0) })), CloseCode.POLICY_VIOLATION],
  ];

  it.each(invalid)('%s fails with its close code, wherever the chunks are cut, and nothing after it is read', (_name, frames, code) => {
    fc.assert(
      fc.property(cuts, (points) => {
        const good = frame({ opcode: 0x2, payload: Uint8Array.of(9) });
        const { seen, error, reader } = feed(cut(concat([good, ...frames, good]), points), 1024, 4);
        expect(error?.code).toBe(code);
        expect(seen).toEqual([{ kind: 'message', bytes: [9] }]);
        expect(reader.done).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('the byte limit is checked against the header, before the payload is buffered', () => {
    const header = frame({ opcode: 0x2, payload: new Uint8Array(2048) }).subarray(0, 8);
    expect(feed([Buffer.from(header)], 1024).error?.code).toBe(CloseCode.MESSAGE_TOO_BIG);
  });

  it('arbitrary bytes never throw: each chunk is read or the connection fails with a close code', () => {
    const codes = new Set<number>(Object.values(CloseCode));
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 8 }), (chunks) => {
        const { error } = feed(chunks.map((c) => Buffer.from(c)), 4096);
        if (error) expect(codes.has(error.code)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
