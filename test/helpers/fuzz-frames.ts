/**
 * fast-check generators of what an attacker sends a gateway, shared by the
 * in-memory and the real-socket fuzz tests: arbitrary bytes, and frames that
 * are structurally valid but adversarial (stream ids that are 0, even,
 * reused or unknown; REQUEST_N 0 or beyond 2^31-1; lengths past the end;
 * fragments of several streams interleaved; frames before SETUP and a
 * second SETUP; metadata that is garbage, unknown routes, bad deadlines).
 */
import fc from 'fast-check';
import { encodeCancel, encodeError, encodeKeepAlive, encodeMetadataPush, encodePayloadFrame, encodeRequestN, encodeSetup } from '../../src/protocol/codec.js';
import { Flags, FrameType } from '../../src/protocol/frames.js';
import { MimeTypes, encodeComposite, encodeRoutes, routeMetadata } from '../../src/protocol/metadata.js';
import { DEADLINE_MIME, deadlineEntry } from '../../src/resilience/deadline.js';

/** RSocket error codes that end a whole connection (docs/protocol.md). */
export const CONNECTION_WIRE_CODES: readonly number[] = [0x001, 0x002, 0x003, 0x004, 0x101, 0x102];

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

/** Mostly a few small odd ids, so frames of the same streams meet (fragments, reuse, REQUEST_N on open streams). */
const streamId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(1, 3, 5) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2, 4, 0x7fffffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x7fffffff }) },
);

/** REQUEST_N values as the 32-bit field carries them: 0, the top bit set, and ordinary ones. */
const requestN = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

function metadataFor(route: string) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(routeMetadata(route)) },
    { weight: 1, arbitrary: fc.constant(routeMetadata(route, [deadlineEntry(1)])) },
    { weight: 1, arbitrary: fc.constant(routeMetadata('no.such.route')) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: bytes(24) },
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.record({
            mimeType: fc.constantFrom(MimeTypes.ROUTING, DEADLINE_MIME, MimeTypes.AUTHENTICATION, MimeTypes.REGISTRATION, 'text/plain', 'x'),
            content: fc.oneof(bytes(12), fc.constant(encodeRoutes(route))),
          }),
          { maxLength: 3 },
        )
        .map((entries) => encodeComposite(entries)),
    },
  );
}

const data = fc.oneof(fc.constant(null), bytes(32), fc.jsonValue({ maxDepth: 2 }).map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'null')));

/** Overwrites the 24-bit metadata length of a payload-carrying frame with a huge one. */
function lieAboutLength(frame: Uint8Array, offset: number): Uint8Array {
  const out = frame.slice();
  if (out.length >= offset + 3) out.set([0xff, 0xff, 0xff], offset);
  return out;
}

/** The frames of an attacker who speaks RSocket: each one well formed, the sequence adversarial. */
export function structuralFrame(options: { route: string }) {
  return frameArbitraries(options).structural;
}

/** One frame an attacker might send: well formed, truncated, lying about its lengths, or any bytes at all. */
export function adversarialFrame(options: { route: string }) {
  return frameArbitraries(options).any;
}

function frameArbitraries(options: { route: string }) {
  const metadata = metadataFor(options.route);
  const payload = fc.record({ metadata, data });
  const request = fc
    .tuple(fc.constantFrom(FrameType.REQUEST_RESPONSE, FrameType.REQUEST_FNF, FrameType.REQUEST_STREAM, FrameType.REQUEST_CHANNEL), streamId, fc.subarray([Flags.FOLLOWS, Flags.COMPLETE]), payload, requestN)
    .map(([type, id, flags, p, n]) => {
      const withN = type === FrameType.REQUEST_STREAM || type === FrameType.REQUEST_CHANNEL;
      return encodePayloadFrame(type, id, flags.reduce((a, b) => a | b, 0), p, withN ? n : undefined);
    });
  const fragment = fc
    .tuple(streamId, fc.subarray([Flags.FOLLOWS, Flags.COMPLETE, Flags.NEXT]), payload)
    .map(([id, flags, p]) => encodePayloadFrame(FrameType.PAYLOAD, id, flags.reduce((a, b) => a | b, 0), p));
  const structural = fc.oneof(
    { weight: 5, arbitrary: request },
    { weight: 3, arbitrary: fragment },
    { weight: 2, arbitrary: fc.tuple(streamId, requestN).map(([id, n]) => encodeRequestN(id, n)) },
    { weight: 1, arbitrary: streamId.map((id) => encodeCancel(id)) },
    { weight: 1, arbitrary: fc.tuple(streamId, fc.constantFrom(0x001, 0x101, 0x201, 0x203, 0x300, 0xffffffff), fc.string({ maxLength: 16 })).map(([id, code, msg]) => encodeError(id, code, msg)) },
    { weight: 1, arbitrary: fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 0xffffffff })).map(([respond, pos]) => encodeKeepAlive(respond, pos)) },
    { weight: 1, arbitrary: bytes(16).map((m) => encodeMetadataPush(m)) },
    { weight: 1, arbitrary: fc.constant(encodeSetup({ metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON, keepAlive: 30_000, lifetime: 90_000 })) },
  );
  const any = fc.oneof(
    { weight: 6, arbitrary: structural },
    // Truncated anywhere, or claiming metadata far past its end.
    { weight: 1, arbitrary: fc.tuple(structural, fc.nat()).map(([f, k]) => f.subarray(0, k % (f.length + 1))) },
    { weight: 1, arbitrary: request.map((f) => lieAboutLength(f, 6)) },
    // Any header (every type, flags, ids with the reserved top bit) over any body.
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0x3f }), fc.integer({ min: 0, max: 0x3ff }), bytes(32)).map(([id, type, flags, body]) => {
        const out = new Uint8Array(6 + body.length);
        new DataView(out.buffer).setUint32(0, id);
        new DataView(out.buffer).setUint16(4, (type << 10) | flags);
        out.set(body, 6);
        return out;
      }),
    },
    { weight: 1, arbitrary: bytes(48) },
  );
  return { structural, any };
}

/** A sequence of frames: well formed only (`structural`), or anything. */
export function adversarialFrames(options: { route: string; structural?: boolean; maxLength?: number }) {
  return fc.array(options.structural ? structuralFrame(options) : adversarialFrame(options), { maxLength: options.maxLength ?? 12 });
}
