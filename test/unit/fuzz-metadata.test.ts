/**
 * Property-based tests of the metadata codecs every request passes through:
 * composite metadata, routing metadata and the deadline entry. Decoding any
 * bytes either succeeds or throws the codec's own error, never anything
 * else; whatever decodes re-encodes to the same entries, so the gateway,
 * which re-encodes a request's metadata when it rewrites the deadline or the
 * route, never forwards entries other than the ones it checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MetadataError, MimeTypes, decodeComposite, decodeRoutes, encodeComposite, encodeRoutes, type MetadataEntry } from '../../src/protocol/metadata.js';
import { DEADLINE_MIME, MAX_DEADLINE_MS, decodeDeadline, readDeadline } from '../../src/resilience/deadline.js';
import { SluiceError } from '../../src/errors.js';

const WELL_KNOWN_NAMES = ['application/json', 'text/plain', MimeTypes.ROUTING, MimeTypes.AUTHENTICATION, MimeTypes.COMPOSITE, 'message/x.rsocket.tracing-zipkin.v0'];

/** MIME types as a peer may write them: well-known, any printable ASCII, and look-alikes of the names unknown reserved ids decode to. */
const mimeType = fc.oneof(
  fc.constantFrom(...WELL_KNOWN_NAMES, MimeTypes.REGISTRATION, DEADLINE_MIME),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 130 }),
  fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.boolean()).map(([id, pad]) => `unknown-well-known/0x${id.toString(16).padStart(pad ? 2 : 1, '0')}`),
);
const entry = fc.record({ mimeType, content: fc.uint8Array({ maxLength: 48 }) });

/** Either the call's value, or the error it threw (and rethrows anything that is not `allowed`). */
function attempt<T>(fn: () => T, allowed: (e: unknown) => boolean): { value: T } | { error: unknown } {
  try {
    return { value: fn() };
  } catch (error) {
    if (!allowed(error)) throw error;
    return { error };
  }
}

const isMetadataError = (e: unknown) => e instanceof MetadataError;
const plain = (entries: readonly MetadataEntry[]) => entries.map((e) => ({ mimeType: e.mimeType, content: [...e.content] }));

describe('composite metadata', () => {
  it('entries that encode decode to the same entries; the rest are refused with MetadataError', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), (entries) => {
        const encoded = attempt(() => encodeComposite(entries), isMetadataError);
        if ('error' in encoded) return;
        expect(plain(decodeComposite(encoded.value))).toEqual(plain(entries));
      }),
      { numRuns: 1_500 },
    );
  });

  it('any bytes decode or throw MetadataError; what decodes re-encodes to the same entries', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        const decoded = attempt(() => decodeComposite(bytes), isMetadataError);
        if ('error' in decoded) return;
        // A decoded MIME type that is not printable ASCII cannot be written back: refused, never mangled.
        const again = attempt(() => encodeComposite(decoded.value), isMetadataError);
        if ('error' in again) return;
        expect(plain(decodeComposite(again.value))).toEqual(plain(decoded.value));
      }),
      { numRuns: 2_000 },
    );
  });

  it('a string entry named like an unknown reserved id never re-encodes as a well-known entry (no routing entry smuggled in)', () => {
    const smuggled = { mimeType: 'unknown-well-known/0x7e', content: encodeRoutes('payment.refund') };
    const decoded = decodeComposite(encodeComposite([smuggled, { mimeType: MimeTypes.ROUTING, content: encodeRoutes('payment.authorize') }]));
    expect(decoded.map((e) => e.mimeType)).toEqual(['unknown-well-known/0x7e', MimeTypes.ROUTING]);
    // An unknown reserved id still passes through as itself.
    const reserved = Uint8Array.of(0x80 | 0x50, 0, 0, 1, 42);
    expect(encodeComposite(decodeComposite(reserved))).toEqual(reserved);
  });
});

describe('routing metadata', () => {
  const tag = fc.string({ unit: 'binary', minLength: 0, maxLength: 90 });

  it('tags of 1-255 UTF-8 bytes round-trip; others are refused with MetadataError', () => {
    fc.assert(
      fc.property(fc.array(tag, { minLength: 1, maxLength: 4 }), (routes) => {
        const encoded = attempt(() => encodeRoutes(...routes), isMetadataError);
        const sizes = routes.map((r) => new TextEncoder().encode(r).length);
        if ('error' in encoded) {
          expect(sizes.some((n) => n < 1 || n > 255)).toBe(true);
          return;
        }
        expect(decodeRoutes(encoded.value)).toEqual(routes);
      }),
      { numRuns: 1_000 },
    );
  });

  it('any bytes decode to tags or throw MetadataError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const decoded = attempt(() => decodeRoutes(bytes), isMetadataError);
        if ('value' in decoded) for (const r of decoded.value) expect(r.length).toBeGreaterThan(0);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('deadline entries', () => {
  it('any content is 1..2^32-1 ms or INVALID_ARGUMENT, alone or among other entries', () => {
    const isInvalid = (e: unknown) => e instanceof SluiceError && e.code === 'INVALID_ARGUMENT';
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.array(entry, { maxLength: 2 }), fc.nat(2), (content, others, copies) => {
        const one = attempt(() => decodeDeadline(content), isInvalid);
        if ('value' in one) {
          expect(one.value).toBeGreaterThanOrEqual(1);
          expect(one.value).toBeLessThanOrEqual(MAX_DEADLINE_MS);
        }
        const entries = [...others, ...Array.from({ length: copies }, () => ({ mimeType: DEADLINE_MIME, content }))];
        attempt(() => readDeadline(entries), isInvalid);
      }),
      { numRuns: 500 },
    );
  });
});
