/** The per-stream data MIME entry (message/x.rsocket.mime-type.v0): encoding, decoding and its refusals. */
import { describe, expect, it } from 'vitest';
import { MetadataError } from '../../src/protocol/metadata.js';
import { decodeStreamMime, encodeStreamMime, isJsonMime, isMimeType, readStreamMime, streamMimeEntry } from '../../src/protocol/stream-mime.js';

describe('per-stream MIME entry', () => {
  it('encodes well-known types as one id byte and others as length-prefixed ASCII', () => {
    expect(encodeStreamMime('application/cbor')).toEqual(Uint8Array.of(0x81));
    expect(encodeStreamMime('application/json')).toEqual(Uint8Array.of(0x85));
    const custom = encodeStreamMime('application/x.acme+avro');
    expect(custom[0]).toBe('application/x.acme+avro'.length - 1);
    for (const m of ['application/cbor', 'application/x.acme+avro', 'text/plain; charset=utf-8']) expect(decodeStreamMime(encodeStreamMime(m))).toBe(m);
  });

  it.each([
    ['empty', new Uint8Array(0), /empty/],
    ['an id with trailing bytes', Uint8Array.of(0x81, 0), /one byte/],
    ['an id nobody assigned', Uint8Array.of(0x80 | 0x70), /unknown well-known id 0x70/],
    ['a length past the end', Uint8Array.of(5, 0x61), /length 6 does not match the 1 bytes/],
    ['not type/subtype', Uint8Array.of(3, 0x6a, 0x73, 0x6f, 0x6e), /is not a printable US-ASCII type\/subtype/],
    ['control characters', Uint8Array.of(2, 0x61, 0x2f, 0x0a), /is not a printable/],
  ])('refuses %s', (_what, bytes, message) => {
    expect(() => decodeStreamMime(bytes)).toThrow(MetadataError);
    expect(() => decodeStreamMime(bytes)).toThrow(message);
  });

  it('reads the entry, else the fallback; tells JSON types apart', () => {
    expect(readStreamMime([streamMimeEntry('application/cbor')])).toBe('application/cbor');
    expect(readStreamMime([])).toBe('application/json');
    expect(readStreamMime([], 'application/cbor')).toBe('application/cbor');
    expect(isJsonMime('application/json; charset=utf-8')).toBe(true);
    expect(isJsonMime('application/cloudevents+json')).toBe(true);
    expect(isJsonMime('application/cbor')).toBe(false);
    expect(isMimeType('cbor')).toBe(false);
    expect(isMimeType(`a/${'b'.repeat(127)}`)).toBe(false);
    expect(() => encodeStreamMime('no slash')).toThrow(MetadataError);
  });
});
