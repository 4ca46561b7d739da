/**
 * The frame codec against the RSocket 1.0 layout (https://rsocket.io/about/protocol,
 * "Framing"): every expected byte sequence below is written by hand from the
 * spec, field by field, not produced by the codec under test.
 *
 *   header:  R(1) stream id(31) | frame type(6) flags(10)   -> 6 bytes
 *   flags:   I=0x200 M=0x100, then per type: F=0x80 C=0x40 N=0x20,
 *            SETUP R(esume)=0x80 L(ease)=0x40, KEEPALIVE R(espond)=0x80
 *   payload: [24-bit metadata length + metadata if M] data
 */
import { describe, expect, it } from 'vitest';
import {
  FrameDecodeError,
  decodeFrame,
  encodeCancel,
  encodeError,
  encodeKeepAlive,
  encodeMetadataPush,
  encodePayloadFrame,
  encodeRequestN,
  encodeSetup,
  rewriteStreamId,
} from '../../src/protocol/codec.js';
import { Flags, FrameType, MAX_REQUEST_N } from '../../src/protocol/frames.js';

/** Hex (spaces ignored) to bytes. */
function h(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Bytes to hex, for readable failures. */
function x(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const t = (s: string) => new TextEncoder().encode(s);

function decodeError(bytes: Uint8Array): FrameDecodeError {
  try {
    decodeFrame(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(FrameDecodeError);
    return err as FrameDecodeError;
  }
  throw new Error(`expected ${x(bytes)} not to decode`);
}

const SETUP_PLAIN = '00000000 0400 0001 0000 00004e20 00015f90 03 782f79 03 612f62';

describe('encoding: byte layout per the RSocket 1.0 spec', () => {
  it('SETUP without metadata or data: version 1.0, keepalive, lifetime, two length-prefixed MIME types', () => {
    const bytes = encodeSetup({ keepAlive: 20_000, lifetime: 90_000, metadataMimeType: 'x/y', dataMimeType: 'a/b' });
    expect(x(bytes)).toBe(x(h(SETUP_PLAIN)));
  });

  it('SETUP with metadata sets M and length-prefixes the metadata; data is the rest', () => {
    const bytes = encodeSetup({ keepAlive: 20_000, lifetime: 90_000, metadataMimeType: 'x/y', dataMimeType: 'a/b', metadata: t('M'), data: t('D') });
    expect(x(bytes)).toBe(x(h('00000000 0500 0001 0000 00004e20 00015f90 03 782f79 03 612f62 000001 4d 44')));
  });

  it('SETUP with a resume token sets R (0x80) and writes the 16-bit token length; extra flags and versions pass through', () => {
    const bytes = encodeSetup({
      keepAlive: 1,
      lifetime: MAX_REQUEST_N,
      metadataMimeType: 'x/y',
      dataMimeType: 'a/b',
      flags: Flags.LEASE,
      resumeToken: h('abcd'),
      majorVersion: 2,
      minorVersion: 3,
    });
    expect(x(bytes)).toBe(x(h('00000000 04c0 0002 0003 00000001 7fffffff 0002 abcd 03 782f79 03 612f62')));
  });

  it('REQUEST_RESPONSE (0x04) with metadata', () => {
    expect(x(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, { metadata: t('m'), data: t('d') }))).toBe(x(h('00000001 1100 000001 6d 64')));
  });

  it('REQUEST_FNF (0x05) without metadata: no M flag, no length field', () => {
    expect(x(encodePayloadFrame(FrameType.REQUEST_FNF, 3, 0, { metadata: null, data: t('d') }))).toBe(x(h('00000003 1400 64')));
  });

  it('REQUEST_STREAM (0x06): 32-bit initial request n before the payload', () => {
    expect(x(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, { metadata: t('m'), data: t('d') }, 8))).toBe(x(h('00000001 1900 00000008 000001 6d 64')));
  });

  it('REQUEST_CHANNEL (0x07) with COMPLETE (0x40)', () => {
    expect(x(encodePayloadFrame(FrameType.REQUEST_CHANNEL, 1, Flags.COMPLETE, { metadata: null, data: t('d') }, 1))).toBe(x(h('00000001 1c40 00000001 64')));
  });

  it('REQUEST_N (0x08) and CANCEL (0x09)', () => {
    expect(x(encodeRequestN(5, 10))).toBe(x(h('00000005 2000 0000000a')));
    expect(x(encodeRequestN(5, MAX_REQUEST_N))).toBe(x(h('00000005 2000 7fffffff')));
    expect(x(encodeCancel(5))).toBe(x(h('00000005 2400')));
  });

  it('PAYLOAD (0x0A): NEXT|COMPLETE, COMPLETE alone, and M derived from the metadata, not the flags argument', () => {
    expect(x(encodePayloadFrame(FrameType.PAYLOAD, 2, Flags.NEXT | Flags.COMPLETE, { metadata: null, data: t('d') }))).toBe(x(h('00000002 2860 64')));
    expect(x(encodePayloadFrame(FrameType.PAYLOAD, 2, Flags.COMPLETE, { metadata: null, data: null }))).toBe(x(h('00000002 2840')));
    // M requested but no metadata: flag cleared.
    expect(x(encodePayloadFrame(FrameType.PAYLOAD, 2, Flags.NEXT | Flags.METADATA, { metadata: null, data: t('d') }))).toBe(x(h('00000002 2820 64')));
    // Empty metadata is still metadata: M set, length 0.
    expect(x(encodePayloadFrame(FrameType.PAYLOAD, 2, Flags.NEXT, { metadata: new Uint8Array(0), data: t('d') }))).toBe(x(h('00000002 2920 000000 64')));
  });

  it('metadata length is a 24-bit big-endian field', () => {
    const bytes = encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: new Uint8Array(0x010203), data: null });
    expect(x(bytes.subarray(0, 9))).toBe(x(h('00000001 2920 010203')));
    expect(bytes.length).toBe(6 + 3 + 0x010203);
  });

  it('ERROR (0x0B): 32-bit code then the UTF-8 message', () => {
    expect(x(encodeError(0, 0x101, 'x'))).toBe(x(h('00000000 2c00 00000101 78')));
    expect(x(encodeError(7, 0x204, 'é'))).toBe(x(h('00000007 2c00 00000204 c3a9')));
  });

  it('KEEPALIVE (0x03): R flag, 63-bit last received position, data', () => {
    expect(x(encodeKeepAlive(true, 0x1_0000_0002, t('hi')))).toBe(x(h('00000000 0c80 00000001 00000002 6869')));
    expect(x(encodeKeepAlive(false, 0))).toBe(x(h('00000000 0c00 00000000 00000000')));
  });

  it('METADATA_PUSH (0x0C): M flag set, the metadata is the rest of the frame (no length)', () => {
    expect(x(encodeMetadataPush(t('ab')))).toBe(x(h('00000000 3100 6162')));
  });

  it('refuses MIME types that are not printable US-ASCII, which no decoder would accept', () => {
    expect(() => encodeSetup({ keepAlive: 1, lifetime: 1, metadataMimeType: 'tëxt/x', dataMimeType: 'a/b' })).toThrow(new RangeError("mime type 'tëxt/x' is not printable US-ASCII"));
    expect(() => encodeSetup({ keepAlive: 1, lifetime: 1, metadataMimeType: 'a/b', dataMimeType: 'a\nb' })).toThrow(new RangeError("mime type 'a\nb' is not printable US-ASCII"));
    expect(decodeFrame(encodeSetup({ keepAlive: 1, lifetime: 1, metadataMimeType: 'text/plain; charset=us-ascii', dataMimeType: '' }))).toMatchObject({
      metadataMimeType: 'text/plain; charset=us-ascii',
      dataMimeType: '',
    });
  });

  it('refuses metadata longer than 24 bits and MIME types longer than 255 bytes', () => {
    expect(() => encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: new Uint8Array(0x1000000), data: null })).toThrow(
      new RangeError('metadata of 16777216 bytes exceeds 24-bit length'),
    );
    expect(() => encodeSetup({ keepAlive: 1, lifetime: 1, metadataMimeType: 'm'.repeat(256), dataMimeType: 'a/b' })).toThrow(
      new RangeError('mime type longer than 255 bytes'),
    );
    expect(() => encodeSetup({ keepAlive: 1, lifetime: 1, metadataMimeType: 'a/b', dataMimeType: 'd'.repeat(256), metadata: new Uint8Array(0x1000000) })).toThrow(RangeError);
  });
});

describe('decoding every frame type', () => {
  it('SETUP', () => {
    const f = decodeFrame(h('00000000 0500 0001 0002 00004e20 00015f90 03 782f79 03 612f62 000001 4d 44'));
    expect(f).toMatchObject({ type: FrameType.SETUP, streamId: 0, flags: Flags.METADATA, majorVersion: 1, minorVersion: 2, keepAlive: 20_000, lifetime: 90_000, resumeToken: null, metadataMimeType: 'x/y', dataMimeType: 'a/b' });
    if (f.type !== FrameType.SETUP) throw new Error('unreachable');
    expect(x(f.metadata)).toBe('4d');
    expect(x(f.data)).toBe('44');
  });

  it('SETUP with resume token and lease flags', () => {
    const f = decodeFrame(h('00000000 04c0 0001 0000 00000001 00000002 0002 abcd 00 00'));
    if (f.type !== FrameType.SETUP) throw new Error(`got type ${f.type}`);
    expect(f.flags).toBe(Flags.RESUME_ENABLE | Flags.LEASE);
    expect(x(f.resumeToken)).toBe('abcd');
    expect(f.metadataMimeType).toBe('');
    expect(f.dataMimeType).toBe('');
    expect(f.metadata).toBeNull();
    expect(x(f.data)).toBe('');
  });

  it('LEASE: ttl, request count, metadata (rest of frame) only with M', () => {
    expect(decodeFrame(h('00000000 0900 00001388 0000000a 6d64'))).toMatchObject({ type: FrameType.LEASE, ttl: 5000, requestCount: 10, metadata: t('md') });
    expect(decodeFrame(h('00000000 0800 00001388 0000000a'))).toMatchObject({ type: FrameType.LEASE, metadata: null });
  });

  it('KEEPALIVE', () => {
    const f = decodeFrame(h('00000000 0c80 00000001 00000002 6869'));
    expect(f).toMatchObject({ type: FrameType.KEEPALIVE, streamId: 0, flags: Flags.RESPOND, lastReceivedPosition: 0x1_0000_0002 });
    if (f.type !== FrameType.KEEPALIVE) throw new Error('unreachable');
    expect(x(f.data)).toBe('6869');
    // The largest position a JS number holds exactly is accepted.
    expect(decodeFrame(h('00000000 0c00 001fffff ffffffff'))).toMatchObject({ lastReceivedPosition: Number.MAX_SAFE_INTEGER });
  });

  it('REQUEST_RESPONSE, REQUEST_FNF, REQUEST_STREAM, REQUEST_CHANNEL', () => {
    expect(decodeFrame(h('00000001 1100 000001 6d 64'))).toEqual({ type: FrameType.REQUEST_RESPONSE, streamId: 1, flags: Flags.METADATA, metadata: t('m'), data: t('d') });
    expect(decodeFrame(h('00000003 1400 64'))).toEqual({ type: FrameType.REQUEST_FNF, streamId: 3, flags: 0, metadata: null, data: t('d') });
    expect(decodeFrame(h('00000005 1900 00000008 000001 6d 64'))).toEqual({ type: FrameType.REQUEST_STREAM, streamId: 5, flags: Flags.METADATA, requestN: 8, metadata: t('m'), data: t('d') });
    expect(decodeFrame(h('00000007 1c40 7fffffff'))).toEqual({ type: FrameType.REQUEST_CHANNEL, streamId: 7, flags: Flags.COMPLETE, requestN: MAX_REQUEST_N, metadata: null, data: new Uint8Array(0) });
  });

  it('REQUEST_N, CANCEL, PAYLOAD, ERROR (on a stream and on stream 0), METADATA_PUSH', () => {
    expect(decodeFrame(h('00000005 2000 0000000a'))).toEqual({ type: FrameType.REQUEST_N, streamId: 5, flags: 0, requestN: 10 });
    expect(decodeFrame(h('00000005 2400'))).toEqual({ type: FrameType.CANCEL, streamId: 5, flags: 0 });
    expect(decodeFrame(h('00000002 29e0 000001 6d 64'))).toEqual({
      type: FrameType.PAYLOAD,
      streamId: 2,
      flags: Flags.METADATA | Flags.FOLLOWS | Flags.COMPLETE | Flags.NEXT,
      metadata: t('m'),
      data: t('d'),
    });
    expect(decodeFrame(h('00000007 2c00 00000204 c3a9'))).toEqual({ type: FrameType.ERROR, streamId: 7, flags: 0, code: 0x204, message: 'é' });
    expect(decodeFrame(h('00000000 2c00 00000101'))).toEqual({ type: FrameType.ERROR, streamId: 0, flags: 0, code: 0x101, message: '' });
    expect(decodeFrame(h('00000000 3100 6162'))).toEqual({ type: FrameType.METADATA_PUSH, streamId: 0, flags: Flags.METADATA, metadata: t('ab') });
  });

  it('RESUME, RESUME_OK and EXT', () => {
    const resume = decodeFrame(h('00000000 3400 0001 0000 0002 abcd 0000000000000005 0000000000000007'));
    expect(resume).toMatchObject({ type: FrameType.RESUME, majorVersion: 1, minorVersion: 0, serverPosition: 5, clientPosition: 7 });
    if (resume.type !== FrameType.RESUME) throw new Error('unreachable');
    expect(x(resume.resumeToken)).toBe('abcd');
    expect(decodeFrame(h('00000000 3800 0000000000000009'))).toEqual({ type: FrameType.RESUME_OK, streamId: 0, flags: 0, clientPosition: 9 });
    expect(decodeFrame(h('00000001 fd00 00000042 000001 6d 64'))).toEqual({ type: FrameType.EXT, streamId: 1, flags: Flags.METADATA, extendedType: 0x42, metadata: t('m'), data: t('d') });
  });

  it('decoded payloads are views into the input (no copy), also when the frame sits at an offset in a larger buffer', () => {
    const backing = new Uint8Array(64).fill(0xee);
    backing.set(h('00000001 1100 000001 6d 64'), 10);
    const bytes = backing.subarray(10, 21);
    const f = decodeFrame(bytes);
    if (f.type !== FrameType.REQUEST_RESPONSE) throw new Error(`got type ${f.type}`);
    expect(f.streamId).toBe(1);
    expect(x(f.metadata)).toBe('6d');
    expect(x(f.data)).toBe('64');
    expect(f.data!.buffer).toBe(backing.buffer);
    expect(f.data!.byteOffset).toBe(20);
  });
});

describe('round trips', () => {
  const payloads = [
    { metadata: null, data: t('data') },
    { metadata: t('meta'), data: t('data') },
    { metadata: t('meta'), data: new Uint8Array(0) },
    { metadata: null, data: new Uint8Array(0) },
  ];
  const normalize = (f: unknown) => JSON.parse(JSON.stringify(f, (_k, v: unknown) => (v instanceof Uint8Array ? `bytes:${x(v)}` : v)));

  it.each([
    ['REQUEST_RESPONSE', FrameType.REQUEST_RESPONSE, undefined],
    ['REQUEST_FNF', FrameType.REQUEST_FNF, undefined],
    ['REQUEST_STREAM', FrameType.REQUEST_STREAM, 42],
    ['REQUEST_CHANNEL', FrameType.REQUEST_CHANNEL, MAX_REQUEST_N],
  ] as const)('%s with every payload shape', (_name, type, n) => {
    for (const p of payloads) {
      for (const flags of type === FrameType.REQUEST_CHANNEL ? [0, Flags.COMPLETE, Flags.FOLLOWS] : [0, Flags.FOLLOWS]) {
        const f = decodeFrame(encodePayloadFrame(type, 0x7fffffff, flags, p, n));
        expect(normalize(f)).toEqual(
          normalize({ type, streamId: 0x7fffffff, flags: flags | (p.metadata ? Flags.METADATA : 0), ...(n === undefined ? {} : { requestN: n }), metadata: p.metadata, data: p.data }),
        );
      }
    }
  });

  it('PAYLOAD with NEXT, COMPLETE, NEXT|COMPLETE and FOLLOWS', () => {
    for (const p of payloads) {
      for (const flags of [Flags.NEXT, Flags.COMPLETE, Flags.NEXT | Flags.COMPLETE, Flags.FOLLOWS | Flags.NEXT]) {
        const f = decodeFrame(encodePayloadFrame(FrameType.PAYLOAD, 9, flags, p));
        expect(normalize(f)).toEqual(normalize({ type: FrameType.PAYLOAD, streamId: 9, flags: flags | (p.metadata ? Flags.METADATA : 0), metadata: p.metadata, data: p.data }));
      }
    }
  });

  it('SETUP, KEEPALIVE, REQUEST_N, CANCEL, ERROR, METADATA_PUSH', () => {
    const setup = decodeFrame(
      encodeSetup({ keepAlive: 1, lifetime: MAX_REQUEST_N, metadataMimeType: 'message/x.rsocket.composite-metadata.v0', dataMimeType: 'application/json', metadata: t('m'), data: t('{}'), resumeToken: t('tok') }),
    );
    expect(normalize(setup)).toEqual(
      normalize({
        type: FrameType.SETUP,
        streamId: 0,
        flags: Flags.METADATA | Flags.RESUME_ENABLE,
        majorVersion: 1,
        minorVersion: 0,
        keepAlive: 1,
        lifetime: MAX_REQUEST_N,
        resumeToken: t('tok'),
        metadataMimeType: 'message/x.rsocket.composite-metadata.v0',
        dataMimeType: 'application/json',
        metadata: t('m'),
        data: t('{}'),
      }),
    );
    expect(decodeFrame(encodeKeepAlive(true, Number.MAX_SAFE_INTEGER, t('x')))).toMatchObject({ flags: Flags.RESPOND, lastReceivedPosition: Number.MAX_SAFE_INTEGER, data: t('x') });
    expect(decodeFrame(encodeRequestN(3, 1))).toEqual({ type: FrameType.REQUEST_N, streamId: 3, flags: 0, requestN: 1 });
    expect(decodeFrame(encodeCancel(0x7fffffff))).toEqual({ type: FrameType.CANCEL, streamId: 0x7fffffff, flags: 0 });
    expect(decodeFrame(encodeError(4, 0x201, 'INTERNAL: boom ✓'))).toEqual({ type: FrameType.ERROR, streamId: 4, flags: 0, code: 0x201, message: 'INTERNAL: boom ✓' });
    expect(decodeFrame(encodeMetadataPush(t('route')))).toEqual({ type: FrameType.METADATA_PUSH, streamId: 0, flags: Flags.METADATA, metadata: t('route') });
  });
});

describe('decodeFrame validation', () => {
  it('a frame shorter than the 6-byte header', () => {
    for (const n of [0, 1, 5]) {
      const err = decodeError(new Uint8Array(n));
      expect(err.message).toBe(`frame of ${n} bytes is shorter than the 6-byte header`);
      expect(err.streamId).toBeUndefined();
      expect(err.ignorable).toBe(false);
      expect(err.name).toBe('FrameDecodeError');
    }
  });

  it('the reserved high bit of the stream id', () => {
    expect(decodeError(h('80000001 2400')).message).toBe('stream id has its reserved high bit set');
    expect(decodeError(h('ffffffff 2400')).message).toBe('stream id has its reserved high bit set');
  });

  it('an unknown frame type is an error, ignorable only with the IGNORE flag', () => {
    const plain = decodeError(h('00000003 4000 0102'));
    expect(plain.message).toBe('unknown frame type 0x10');
    expect(plain.streamId).toBe(3);
    expect(plain.ignorable).toBe(false);
    const ignorable = decodeError(h('00000003 4200 0102'));
    expect(ignorable.message).toBe('unknown frame type 0x10');
    expect(ignorable.ignorable).toBe(true);
    // Type 0x00 is RESERVED in the spec.
    expect(decodeError(h('00000000 0000')).message).toBe('unknown frame type 0x0');
    expect(decodeError(h('00000000 0200')).ignorable).toBe(true);
    // The IGNORE flag does not excuse a known type that is malformed.
    expect(decodeError(h('00000001 2200 00000000')).ignorable).toBe(false);
  });

  it('request n of 0 or above 2^31-1, in REQUEST_N, REQUEST_STREAM and REQUEST_CHANNEL', () => {
    expect(decodeError(h('00000001 2000 00000000')).message).toBe('request n must be 1..2147483647, got 0');
    expect(decodeError(h('00000001 2000 80000000')).message).toBe('request n must be 1..2147483647, got 2147483648');
    expect(decodeError(h('00000001 2000 ffffffff')).message).toBe('request n must be 1..2147483647, got 4294967295');
    expect(decodeError(h('00000001 1800 00000000')).message).toBe('initial request n must be 1..2147483647, got 0');
    const channel = decodeError(h('00000001 1c00 80000000'));
    expect(channel.message).toBe('initial request n must be 1..2147483647, got 2147483648');
    expect(channel.streamId).toBe(1);
  });

  it('SETUP keepalive interval and lifetime must be 1..2^31-1', () => {
    expect(decodeError(h('00000000 0400 0001 0000 00000000 00015f90 00 00')).message).toBe('keepalive interval must be 1..2147483647, got 0');
    expect(decodeError(h('00000000 0400 0001 0000 00004e20 80000000 00 00')).message).toBe('max lifetime must be 1..2147483647, got 2147483648');
  });

  it.each([
    ['SETUP', () => h(SETUP_PLAIN)],
    ['LEASE', () => h('00000000 0800 00001388 0000000a')],
    ['KEEPALIVE', () => encodeKeepAlive(true, 0)],
    ['METADATA_PUSH', () => encodeMetadataPush(t('m'))],
    ['RESUME', () => h('00000000 3400 0001 0000 0000 0000000000000000 0000000000000000')],
    ['RESUME_OK', () => h('00000000 3800 0000000000000000')],
  ])('%s is only valid on stream 0', (name, frame) => {
    expect(() => decodeFrame(frame())).not.toThrow();
    const err = decodeError(rewriteStreamId(frame(), 5));
    expect(err.message).toBe(`${name} must be on stream 0, got stream 5`);
    expect(err.streamId).toBe(5);
  });

  it.each([
    ['REQUEST_RESPONSE', () => encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, { metadata: null, data: t('d') })],
    ['REQUEST_FNF', () => encodePayloadFrame(FrameType.REQUEST_FNF, 1, 0, { metadata: null, data: t('d') })],
    ['REQUEST_STREAM', () => encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, { metadata: null, data: t('d') }, 1)],
    ['REQUEST_CHANNEL', () => encodePayloadFrame(FrameType.REQUEST_CHANNEL, 1, 0, { metadata: null, data: t('d') }, 1)],
    ['REQUEST_N', () => encodeRequestN(1, 1)],
    ['CANCEL', () => encodeCancel(1)],
    ['PAYLOAD', () => encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: t('d') })],
  ])('%s is never valid on stream 0', (name, frame) => {
    expect(() => decodeFrame(frame())).not.toThrow();
    const err = decodeError(rewriteStreamId(frame(), 0));
    expect(err.message).toBe(`${name} must not be on stream 0`);
    expect(err.streamId).toBe(0);
  });

  it('metadata whose length runs past the end of the frame', () => {
    const err = decodeError(h('00000001 1100 000005 6d64'));
    expect(err.message).toBe('truncated frame: metadata needs 5 bytes, 2 left');
    expect(err.streamId).toBe(1);
    expect(decodeError(h('00000001 1100 0000')).message).toBe('truncated frame: metadata length needs 3 bytes, 2 left');
    expect(decodeError(h('00000001 2920 ffffff 00')).message).toBe('truncated frame: metadata needs 16777215 bytes, 1 left');
    expect(decodeError(h('00000000 0500 0001 0000 00004e20 00015f90 00 00 000002 4d')).message).toBe('truncated frame: metadata needs 2 bytes, 1 left');
  });

  it('PAYLOAD with neither NEXT, COMPLETE nor FOLLOWS', () => {
    expect(decodeError(h('00000001 2800 64')).message).toBe('PAYLOAD frame has neither NEXT, COMPLETE nor FOLLOWS');
    expect(decodeError(h('00000001 2900 000000 64')).message).toBe('PAYLOAD frame has neither NEXT, COMPLETE nor FOLLOWS');
    expect(decodeFrame(h('00000001 2880 64'))).toMatchObject({ flags: Flags.FOLLOWS });
  });

  it('MIME types in SETUP must be printable US-ASCII', () => {
    expect(decodeError(h('00000000 0400 0001 0000 00004e20 00015f90 03 782fc3 03 612f62')).message).toBe('metadata mime type is not printable US-ASCII');
    expect(decodeError(h('00000000 0400 0001 0000 00004e20 00015f90 03 782f79 03 612f7f')).message).toBe('data mime type is not printable US-ASCII');
    expect(decodeError(h('00000000 0400 0001 0000 00004e20 00015f90 01 0a 00')).message).toBe('metadata mime type is not printable US-ASCII');
    expect(decodeError(h('00000000 0400 0001 0000 00004e20 00015f90 05 782f')).message).toBe('truncated frame: metadata mime type needs 5 bytes, 2 left');
    expect(decodeError(h('00000000 0400 0001 0000 00004e20 00015f90 00')).message).toBe('truncated frame: data mime length needs 1 bytes, 0 left');
  });

  it('METADATA_PUSH without the METADATA flag', () => {
    expect(decodeError(h('00000000 3000 6162')).message).toBe('METADATA_PUSH without the METADATA flag');
  });

  it('truncated fixed fields name the field', () => {
    expect(decodeError(h('00000001 2000 0000')).message).toBe('truncated frame: request n needs 4 bytes, 2 left');
    expect(decodeError(h('00000001 2c00')).message).toBe('truncated frame: error code needs 4 bytes, 0 left');
    expect(decodeError(h('00000000 0c80 000000')).message).toBe('truncated frame: last received position needs 4 bytes, 3 left');
    expect(decodeError(h('00000000 0480 0001 0000 00004e20 00015f90 0005 ab')).message).toBe('truncated frame: resume token needs 5 bytes, 1 left');
    expect(decodeError(h('00000000 0400 0001')).message).toBe('truncated frame: minor version needs 2 bytes, 0 left');
    expect(decodeError(h('00000001 fc00 0000')).message).toBe('truncated frame: extended type needs 4 bytes, 2 left');
  });

  it('positions beyond 2^53 are refused', () => {
    expect(decodeError(h('00000000 0c80 00200000 00000000')).message).toBe('last received position out of range');
    expect(decodeError(h('00000000 3800 7fffffff ffffffff')).message).toBe('last received client position out of range');
  });

  it('is total: random and mutated bytes either decode or throw FrameDecodeError, never anything else', () => {
    let seed = 0x5eed;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 0x100000000;
    };
    const valid = [
      h(SETUP_PLAIN),
      encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, { metadata: t('meta'), data: t('data') }, 8),
      encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: t('m'), data: t('d') }),
      encodeKeepAlive(true, 1, t('k')),
      encodeError(1, 0x201, 'x'),
    ];
    for (let i = 0; i < 5_000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
      } else {
        bytes = valid[i % valid.length]!.slice();
        const flips = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < flips && bytes.length > 0; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        if (rand() < 0.3) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
      }
      try {
        decodeFrame(bytes);
      } catch (err) {
        if (!(err instanceof FrameDecodeError)) throw new Error(`${x(bytes)} threw ${String(err)}`);
      }
    }
  });
});

describe('rewriteStreamId', () => {
  it('overwrites only the stream id, in place, and returns the same array', () => {
    const frame = encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.COMPLETE, { metadata: t('m'), data: t('d') });
    const before = x(frame.subarray(4));
    const out = rewriteStreamId(frame, 0x12345678);
    expect(out).toBe(frame);
    expect(x(frame.subarray(0, 4))).toBe('12345678');
    expect(x(frame.subarray(4))).toBe(before);
    expect(decodeFrame(frame)).toMatchObject({ type: FrameType.PAYLOAD, streamId: 0x12345678, flags: Flags.METADATA | Flags.NEXT | Flags.COMPLETE });
  });

  it('never sets the reserved bit', () => {
    const frame = encodeCancel(1);
    rewriteStreamId(frame, 0xffffffff);
    expect(x(frame)).toBe(x(h('7fffffff 2400')));
    expect(decodeFrame(frame)).toMatchObject({ streamId: 0x7fffffff });
  });
});

describe('frames from a pooled allocator', () => {
  it('encode into slices of a shared buffer (non-zero byteOffset) and decode back', async () => {
    const { setFrameAllocator, encodeSetup: setup, encodeError: error, encodePayloadFrame: payload, encodeRequestN: requestN, decodeFrame: decode } = await import('../../src/protocol/codec.js');
    const pool = new Uint8Array(64 * 1024).fill(0xee);
    let used = 7; // deliberately unaligned, and dirty memory underneath
    setFrameAllocator((size) => {
      const out = pool.subarray(used, used + size);
      used += size + 3;
      return out;
    });
    try {
      const frames = [
        setup({ keepAlive: 1000, lifetime: 5000, metadataMimeType: 'message/x.rsocket.composite-metadata.v0', dataMimeType: 'application/json', data: Uint8Array.of(1, 2) }),
        error(3, 0x201, 'INTERNAL: boom'),
        payload(0x0a, 5, 0x20, { data: Uint8Array.of(9), metadata: Uint8Array.of(4, 5) }),
        requestN(7, 42),
      ];
      expect(frames.every((f) => f.byteOffset > 0)).toBe(true);
      const [s, e, p, n] = frames.map((f) => decode(f)) as any[];
      expect([s.keepAlive, s.lifetime, [...s.data]]).toEqual([1000, 5000, [1, 2]]);
      expect([e.streamId, e.code, e.message]).toEqual([3, 0x201, 'INTERNAL: boom']);
      expect([p.streamId, [...p.metadata], [...p.data]]).toEqual([5, [4, 5], [9]]);
      expect([n.streamId, n.requestN]).toEqual([7, 42]);
    } finally {
      setFrameAllocator((size) => new Uint8Array(size));
    }
  });
});
