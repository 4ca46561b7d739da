import { describe, expect, it } from 'vitest';
import { Flags, FrameType, MAX_REQUEST_N, MAX_STREAM_ID, MAX_U24, FRAME_HEADER_SIZE, frameTypeName, hasFlag } from '../../src/protocol/frames.js';

describe('frame constants', () => {
  it('frame types and flags carry the values of the RSocket 1.0 spec', () => {
    expect(FrameType).toEqual({
      SETUP: 0x01,
      LEASE: 0x02,
      KEEPALIVE: 0x03,
      REQUEST_RESPONSE: 0x04,
      REQUEST_FNF: 0x05,
      REQUEST_STREAM: 0x06,
      REQUEST_CHANNEL: 0x07,
      REQUEST_N: 0x08,
      CANCEL: 0x09,
      PAYLOAD: 0x0a,
      ERROR: 0x0b,
      METADATA_PUSH: 0x0c,
      RESUME: 0x0d,
      RESUME_OK: 0x0e,
      EXT: 0x3f,
    });
    expect([Flags.IGNORE, Flags.METADATA, Flags.FOLLOWS, Flags.COMPLETE, Flags.NEXT]).toEqual([0x200, 0x100, 0x80, 0x40, 0x20]);
    expect([Flags.RESPOND, Flags.RESUME_ENABLE, Flags.LEASE]).toEqual([0x80, 0x80, 0x40]);
    expect([MAX_REQUEST_N, MAX_STREAM_ID, MAX_U24, FRAME_HEADER_SIZE]).toEqual([2 ** 31 - 1, 2 ** 31 - 1, 2 ** 24 - 1, 6]);
  });
});

describe('hasFlag', () => {
  it('is true only when every bit of the flag is set', () => {
    expect(hasFlag(Flags.NEXT | Flags.COMPLETE, Flags.NEXT)).toBe(true);
    expect(hasFlag(Flags.NEXT, Flags.NEXT | Flags.COMPLETE)).toBe(false);
    expect(hasFlag(0, Flags.METADATA)).toBe(false);
    expect(hasFlag(0x3ff, Flags.IGNORE)).toBe(true);
  });
});

describe('frameTypeName', () => {
  it('names known types and prints unknown ones in hex', () => {
    expect(frameTypeName(FrameType.REQUEST_CHANNEL)).toBe('REQUEST_CHANNEL');
    expect(frameTypeName(FrameType.EXT)).toBe('EXT');
    expect(frameTypeName(0x10)).toBe('0x10');
    expect(frameTypeName(0)).toBe('0x0');
  });
});
