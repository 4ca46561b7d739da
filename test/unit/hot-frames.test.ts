/**
 * The header-only reading of hot frames (hot-frames.ts) must agree with the
 * strict decoder on every frame, valid or not: a frame it accepts decodes
 * without error to the same type, stream, flags, request n and payload
 * bytes, and a frame the decoder refuses is never accepted (it goes on to
 * the decoder's precise error). Checked on arbitrary bytes, on adversarial
 * frames, and on mutations of well-formed hot frames (requests included), which reach the edges
 * (lengths one short, flags one bit off) far more often than random bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeCancel, encodePayloadFrame, encodeRequestN } from '../../src/protocol/codec.js';
import { Flags, FrameType, type Frame } from '../../src/protocol/frames.js';
import { FramePayload, hotFlags, hotFrameType, hotPayloadSize, hotPayloadStart, hotRequestN, hotStreamId } from '../../src/protocol/hot-frames.js';
import { adversarialFrames } from '../helpers/fuzz-frames.js';

function decoded(bytes: Uint8Array): Frame | Error {
  try {
    return decodeFrame(bytes);
  } catch (err) {
    return err as Error;
  }
}

/** Asserts the hot reading and the decoder agree on `bytes`; returns whether it was hot. */
function agree(bytes: Uint8Array): boolean {
  const type = hotFrameType(bytes);
  const frame = decoded(bytes);
  if (type === 0) {
    // Not hot: must not be a frame the hot path should have taken.
    if (!(frame instanceof Error) && frame.streamId !== 0) {
      const hotKind = frame.type === FrameType.REQUEST_N || frame.type === FrameType.CANCEL || (REQUESTS_AND_PAYLOAD.has(frame.type) && (frame.flags & Flags.FOLLOWS) === 0);
      expect(hotKind, `a ${frame.type} frame the decoder accepts was not taken as hot`).toBe(false);
    }
    return false;
  }
  if (frame instanceof Error) throw new Error(`hot reading accepted a frame the decoder refuses (${frame.message}): ${Buffer.from(bytes).toString('hex')}`);
  expect(type).toBe(frame.type);
  expect(hotStreamId(bytes)).toBe(frame.streamId);
  expect(hotFlags(bytes)).toBe(frame.flags);
  if ('requestN' in frame) expect(hotRequestN(bytes)).toBe(frame.requestN);
  if ('data' in frame && frame.type !== FrameType.KEEPALIVE) {
    const start = hotPayloadStart(type);
    const payload = new FramePayload(bytes, start);
    expect(payload.metadata === null ? null : [...payload.metadata]).toEqual(frame.metadata === null ? null : [...frame.metadata]);
    expect([...payload.data!]).toEqual([...frame.data!]);
    expect(hotPayloadSize(bytes, start)).toBe((frame.metadata?.length ?? 0) + frame.data!.length);
  }
  return true;
}

const REQUESTS_AND_PAYLOAD: ReadonlySet<number> = new Set([
  FrameType.PAYLOAD,
  FrameType.REQUEST_RESPONSE,
  FrameType.REQUEST_FNF,
  FrameType.REQUEST_STREAM,
  FrameType.REQUEST_CHANNEL,
]);

const payloadParts = { metadata: fc.option(fc.uint8Array({ maxLength: 20 })), data: fc.uint8Array({ maxLength: 20 }) };

/** Well-formed hot frames of every shape. */
const hotFrame = fc.oneof(
  fc
    .record({
      id: fc.integer({ min: 1, max: 0x7fffffff }),
      type: fc.constantFrom(FrameType.REQUEST_RESPONSE, FrameType.REQUEST_FNF, FrameType.REQUEST_STREAM, FrameType.REQUEST_CHANNEL),
      complete: fc.boolean(),
      n: fc.integer({ min: 1, max: 0x7fffffff }),
      ...payloadParts,
    })
    .map(({ id, type, complete, n, metadata, data }) => {
      const withN = type === FrameType.REQUEST_STREAM || type === FrameType.REQUEST_CHANNEL;
      return encodePayloadFrame(type, id, complete ? Flags.COMPLETE : 0, { metadata, data }, withN ? n : undefined);
    }),
  fc
    .record({
      id: fc.integer({ min: 1, max: 0x7fffffff }),
      flags: fc.constantFrom(Flags.NEXT, Flags.COMPLETE, Flags.NEXT | Flags.COMPLETE),
      ...payloadParts,
    })
    .map(({ id, flags, metadata, data }) => encodePayloadFrame(FrameType.PAYLOAD, id, flags, { metadata, data })),
  fc.record({ id: fc.integer({ min: 1, max: 0x7fffffff }), n: fc.integer({ min: 1, max: 0x7fffffff }) }).map(({ id, n }) => encodeRequestN(id, n)),
  fc.integer({ min: 1, max: 0x7fffffff }).map((id) => encodeCancel(id)),
);

/** A hot frame with one byte changed, cut short, or extended. */
const mutated = fc
  .record({ frame: hotFrame, at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), cut: fc.nat({ max: 12 }), how: fc.constantFrom('set', 'cut', 'extend') })
  .map(({ frame, at, value, cut, how }) => {
    const out = Uint8Array.from(frame);
    if (how === 'set') {
      out[at % out.length] = value;
      return out;
    }
    if (how === 'cut') return out.subarray(0, Math.max(0, out.length - cut));
    return Uint8Array.from([...out, value]);
  });

describe('hot frame reading', () => {
  it('agrees with the strict decoder on well-formed hot frames, and takes them all', () => {
    fc.assert(
      fc.property(hotFrame, (bytes) => {
        expect(agree(bytes)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with the strict decoder on mutated hot frames', () => {
    let hot = 0;
    let cold = 0;
    fc.assert(
      fc.property(mutated, (bytes) => {
        if (agree(bytes)) hot++;
        else cold++;
      }),
      { numRuns: 5000 },
    );
    // Both sides of the line were exercised.
    expect(hot).toBeGreaterThan(0);
    expect(cold).toBeGreaterThan(0);
  });

  it('agrees with the strict decoder on arbitrary bytes and adversarial frames', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        agree(bytes);
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(adversarialFrames({ route: 'svc.echo' }), (frames) => {
        for (const f of frames) agree(f);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses the edge cases the decoder refuses', () => {
    const payload = encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: new Uint8Array([1, 2]), data: new Uint8Array([3]) });
    expect(hotFrameType(payload)).toBe(FrameType.PAYLOAD);
    // Metadata length one past the end.
    const long = Uint8Array.from(payload);
    long[8] = 4;
    expect(hotFrameType(long)).toBe(0);
    expect(decoded(long)).toBeInstanceOf(Error);
    // Stream 0, the reserved bit, REQUEST_N 0 and 2^31, a PAYLOAD with neither NEXT nor COMPLETE.
    expect(hotFrameType(encodeCancel(0))).toBe(0);
    const reserved = encodeCancel(1);
    reserved[0] = 0x80;
    expect(hotFrameType(reserved)).toBe(0);
    const zero = encodeRequestN(1, 1);
    zero.fill(0, 6);
    expect(hotFrameType(zero)).toBe(0);
    const big = encodeRequestN(1, 1);
    big.set([0x80, 0, 0, 0], 6);
    expect(hotFrameType(big)).toBe(0);
    expect(hotFrameType(encodePayloadFrame(FrameType.PAYLOAD, 1, 0, { metadata: null, data: null }))).toBe(0);
    // Fragments go to the reassembler's path.
    expect(hotFrameType(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.FOLLOWS, { metadata: null, data: new Uint8Array(1) }))).toBe(0);
    expect(hotFrameType(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, Flags.FOLLOWS, { metadata: null, data: new Uint8Array(1) }))).toBe(0);
    // A stream request with an initial n of 0, or cut inside its n.
    const stream = encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, { metadata: null, data: null }, 5);
    expect(hotFrameType(stream)).toBe(FrameType.REQUEST_STREAM);
    const noN = Uint8Array.from(stream);
    noN.fill(0, 6, 10);
    expect(hotFrameType(noN)).toBe(0);
    expect(hotFrameType(stream.subarray(0, 9))).toBe(0);
    expect(decoded(stream.subarray(0, 9))).toBeInstanceOf(Error);
  });
});
