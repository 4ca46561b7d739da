import { describe, expect, it } from 'vitest';
import {
  MetadataError,
  MimeTypes,
  decodeComposite,
  decodeRoutes,
  encodeComposite,
  encodeRoutes,
  findEntry,
  findRoute,
  routeMetadata,
} from '../../src/protocol/metadata.js';

const u8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function metadataError(fn: () => unknown): MetadataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MetadataError);
    expect((err as Error).name).toBe('MetadataError');
    return err as MetadataError;
  }
  throw new Error('expected a MetadataError');
}

describe('encodeComposite', () => {
  it('writes a well-known MIME type as one byte 0x80|id, then a 24-bit length and the content', () => {
    expect(hex(encodeComposite([{ mimeType: MimeTypes.ROUTING, content: u8('ab') }]))).toBe('fe' + '000002' + '6162');
    expect(hex(encodeComposite([{ mimeType: MimeTypes.COMPOSITE, content: new Uint8Array(0) }]))).toBe('ff000000');
    expect(hex(encodeComposite([{ mimeType: 'application/avro', content: Uint8Array.of(9) }]))).toBe('80000001' + '09');
  });

  it('writes a custom MIME type as (length - 1) then its bytes', () => {
    expect(hex(encodeComposite([{ mimeType: 'a/b', content: u8('x') }]))).toBe('02' + hex(u8('a/b')) + '000001' + '78');
  });

  it('custom MIME types must be 1..128 bytes', () => {
    expect(metadataError(() => encodeComposite([{ mimeType: '', content: u8('x') }])).message).toBe("mime type '' must be 1..128 bytes");
    const long = 'm'.repeat(129);
    expect(metadataError(() => encodeComposite([{ mimeType: long, content: u8('x') }])).message).toBe(`mime type '${long}' must be 1..128 bytes`);
    const max = 'm'.repeat(128);
    const bytes = encodeComposite([{ mimeType: max, content: u8('x') }]);
    expect(bytes[0]).toBe(127);
    expect(decodeComposite(bytes)[0]!.mimeType).toBe(max);
  });

  it('custom MIME types must be printable US-ASCII', () => {
    expect(metadataError(() => encodeComposite([{ mimeType: 'tëxt/x', content: u8('x') }])).message).toBe("mime type 'tëxt/x' must be printable US-ASCII");
    expect(metadataError(() => encodeComposite([{ mimeType: 'a\tb', content: u8('x') }])).message).toBe("mime type 'a\tb' must be printable US-ASCII");
  });

  it('content must fit the 24-bit length', () => {
    expect(metadataError(() => encodeComposite([{ mimeType: 'a/b', content: new Uint8Array(0x1000000) }])).message).toBe("metadata entry 'a/b' is over 16 MiB");
  });

  it('concatenates entries in order', () => {
    const entries = [
      { mimeType: MimeTypes.ROUTING, content: encodeRoutes('r') },
      { mimeType: 'x/custom', content: u8('c') },
      { mimeType: MimeTypes.AUTHENTICATION, content: u8('t') },
    ];
    expect(decodeComposite(encodeComposite(entries)).map((e) => [e.mimeType, text(e.content)])).toEqual([
      [MimeTypes.ROUTING, '\x01r'],
      ['x/custom', 'c'],
      [MimeTypes.AUTHENTICATION, 't'],
    ]);
    expect(encodeComposite([]).length).toBe(0);
  });
});

describe('decodeComposite', () => {
  it('decodes nothing from empty metadata', () => {
    expect(decodeComposite(new Uint8Array(0))).toEqual([]);
  });

  it('names a reserved well-known id it does not know and keeps the content', () => {
    const entries = decodeComposite(Uint8Array.of(0x80 | 0x50, 0, 0, 1, 7));
    expect(entries.map((e) => [e.mimeType, hex(e.content)])).toEqual([['unknown-well-known/0x50', '07']]);
  });

  it('returns content as views into the input', () => {
    const bytes = encodeComposite([{ mimeType: 'a/b', content: u8('xyz') }]);
    const [entry] = decodeComposite(bytes);
    expect(entry!.content.buffer).toBe(bytes.buffer);
  });

  it('each malformed entry is a MetadataError naming the problem', () => {
    // custom MIME of 4 bytes, 2 present
    expect(metadataError(() => decodeComposite(Uint8Array.of(3, 0x61, 0x2f))).message).toBe('composite metadata: mime type runs past the end');
    // well-known id with only 2 of 3 length bytes
    expect(metadataError(() => decodeComposite(Uint8Array.of(0xfe, 0, 0))).message).toBe(`composite metadata: entry '${MimeTypes.ROUTING}' has no length`);
    // content length 5, 1 byte present
    expect(metadataError(() => decodeComposite(Uint8Array.of(0x02, 0x61, 0x2f, 0x62, 0, 0, 5, 0x78))).message).toBe("composite metadata: entry 'a/b' runs past the end");
    // a valid entry followed by garbage
    const valid = encodeComposite([{ mimeType: MimeTypes.ROUTING, content: encodeRoutes('r') }]);
    expect(metadataError(() => decodeComposite(Uint8Array.of(...valid, 0x7f))).message).toBe('composite metadata: mime type runs past the end');
  });
});

describe('routing metadata', () => {
  it('encodes each tag as an 8-bit length and UTF-8 bytes', () => {
    expect(hex(encodeRoutes('ab', 'é'))).toBe('02' + '6162' + '02' + 'c3a9');
  });

  it('round-trips tags up to 255 bytes, multi-byte characters included', () => {
    const routes = ['orders.watch', 'ü'.repeat(127), 'x'.repeat(255)];
    expect(decodeRoutes(encodeRoutes(...routes))).toEqual(routes);
  });

  it('refuses empty and over-long tags', () => {
    expect(metadataError(() => encodeRoutes('')).message).toBe('route tag must be 1..255 bytes, got 0');
    expect(metadataError(() => encodeRoutes('x'.repeat(256))).message).toBe('route tag must be 1..255 bytes, got 256');
    expect(metadataError(() => encodeRoutes('ü'.repeat(128))).message).toBe('route tag must be 1..255 bytes, got 256');
  });

  it('decoding refuses zero-length tags, tags past the end and invalid UTF-8', () => {
    expect(metadataError(() => decodeRoutes(Uint8Array.of(0))).message).toBe('routing metadata: tag length runs past the end');
    expect(metadataError(() => decodeRoutes(Uint8Array.of(3, 0x61))).message).toBe('routing metadata: tag length runs past the end');
    expect(metadataError(() => decodeRoutes(Uint8Array.of(2, 0xc3, 0x28))).message).toBe('routing metadata: tag is not valid UTF-8');
    expect(decodeRoutes(new Uint8Array(0))).toEqual([]);
  });
});

describe('routeMetadata, findRoute, findEntry', () => {
  it('routeMetadata is one routing entry first, then the extra entries', () => {
    const md = routeMetadata('checkout.place', [{ mimeType: 'x/trace', content: u8('t1') }]);
    expect(hex(md)).toBe('fe' + '00000f' + '0e' + hex(u8('checkout.place')) + '06' + hex(u8('x/trace')) + '000002' + hex(u8('t1')));
  });

  it('findRoute returns the first tag of the first routing entry', () => {
    expect(findRoute(encodeComposite([{ mimeType: 'x/other', content: u8('o') }, { mimeType: MimeTypes.ROUTING, content: encodeRoutes('first', 'second') }]))).toBe('first');
  });

  it('findRoute is undefined without metadata, with empty metadata or without a routing entry', () => {
    expect(findRoute(null)).toBeUndefined();
    expect(findRoute(new Uint8Array(0))).toBeUndefined();
    expect(findRoute(encodeComposite([{ mimeType: 'x/other', content: u8('o') }]))).toBeUndefined();
    expect(findRoute(encodeComposite([{ mimeType: MimeTypes.ROUTING, content: new Uint8Array(0) }]))).toBeUndefined();
  });

  it('findRoute throws MetadataError on malformed metadata', () => {
    expect(metadataError(() => findRoute(Uint8Array.of(0xfe, 0))).message).toBe(`composite metadata: entry '${MimeTypes.ROUTING}' has no length`);
    expect(metadataError(() => findRoute(encodeComposite([{ mimeType: MimeTypes.ROUTING, content: Uint8Array.of(9, 1) }]))).message).toBe(
      'routing metadata: tag length runs past the end',
    );
  });

  it('findEntry finds the first entry of a MIME type', () => {
    const entries = decodeComposite(encodeComposite([{ mimeType: 'a/b', content: u8('1') }, { mimeType: 'a/b', content: u8('2') }]));
    expect(text(findEntry(entries, 'a/b')!.content)).toBe('1');
    expect(findEntry(entries, 'c/d')).toBeUndefined();
  });
});

describe('reserved well-known ids this table does not name', () => {
  it('pass through a decode and re-encode unchanged', () => {
    const original = Uint8Array.of(0x80 | 0x50, 0, 0, 2, 0xab, 0xcd, 0x80 | 0x7e, 0, 0, 2, 1, 0x78);
    const entries = decodeComposite(original);
    expect(entries[0]!.mimeType).toBe('unknown-well-known/0x50');
    expect([...encodeComposite(entries)]).toEqual([...original]);
  });
});
