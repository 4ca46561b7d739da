import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { decodeComposite, encodeComposite, routeMetadata, MimeTypes } from '../../src/protocol/metadata.js';
import { DEADLINE_MIME, MAX_DEADLINE_MS, deadlineEntry, decodeDeadline, encodeDeadline, readDeadline } from '../../src/resilience/deadline.js';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function invalid(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('INVALID_ARGUMENT');
    return err as SluiceError;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('deadline metadata', () => {
  it('names its MIME type and range', () => {
    expect(DEADLINE_MIME).toBe('application/x.sluice.deadline');
    expect(MAX_DEADLINE_MS).toBe(4_294_967_295);
  });

  it('encodes ms remaining as 4 bytes unsigned big-endian', () => {
    expect(hex(encodeDeadline(1))).toBe('00000001');
    expect(hex(encodeDeadline(1500))).toBe('000005dc');
    expect(hex(encodeDeadline(0x01020304))).toBe('01020304');
    expect(hex(encodeDeadline(MAX_DEADLINE_MS))).toBe('ffffffff');
  });

  it('rounds fractions up: a deadline with time left never encodes as 0', () => {
    expect(decodeDeadline(encodeDeadline(0.2))).toBe(1);
    expect(decodeDeadline(encodeDeadline(99.01))).toBe(100);
  });

  it('refuses remaining times outside 1..MAX with a RangeError', () => {
    for (const bad of [0, -1, -0.5, MAX_DEADLINE_MS + 0.5, MAX_DEADLINE_MS + 1, Number.NaN, Infinity]) {
      expect(() => encodeDeadline(bad), String(bad)).toThrow(RangeError);
    }
    expect(() => encodeDeadline(0)).toThrow('deadline must be 1..4294967295 ms remaining, got 0');
  });

  it('decodes what it encodes, across the range', () => {
    for (const ms of [1, 255, 256, 65_535, 65_536, 16_777_216, 2 ** 31, MAX_DEADLINE_MS]) expect(decodeDeadline(encodeDeadline(ms))).toBe(ms);
  });

  it('INVALID_ARGUMENT: wrong length names the MIME type and says 4 bytes', () => {
    expect(invalid(() => decodeDeadline(new Uint8Array(3))).message).toBe('deadline metadata (application/x.sluice.deadline) must be 4 bytes, got 3');
    expect(invalid(() => decodeDeadline(new Uint8Array(0))).message).toBe('deadline metadata (application/x.sluice.deadline) must be 4 bytes, got 0');
    expect(invalid(() => decodeDeadline(new Uint8Array(8))).message).toBe('deadline metadata (application/x.sluice.deadline) must be 4 bytes, got 8');
  });

  it('INVALID_ARGUMENT: zero', () => {
    expect(invalid(() => decodeDeadline(new Uint8Array(4))).message).toBe('deadline metadata (application/x.sluice.deadline) is zero: it must be 1..4294967295 ms remaining');
  });

  it('deadlineEntry travels in composite metadata next to the route', () => {
    const bytes = routeMetadata('payment.authorize', [deadlineEntry(2_500)]);
    const entries = decodeComposite(bytes);
    expect(entries.map((e) => e.mimeType)).toEqual([MimeTypes.ROUTING, DEADLINE_MIME]);
    expect(readDeadline(entries)).toBe(2_500);
  });

  it('readDeadline: undefined when absent', () => {
    expect(readDeadline([])).toBeUndefined();
    expect(readDeadline(decodeComposite(routeMetadata('a.b')))).toBeUndefined();
  });

  it('readDeadline: throws like decodeDeadline for a bad entry', () => {
    const entries = decodeComposite(encodeComposite([{ mimeType: DEADLINE_MIME, content: Uint8Array.of(0, 0, 1) }]));
    expect(invalid(() => readDeadline(entries)).message).toBe('deadline metadata (application/x.sluice.deadline) must be 4 bytes, got 3');
    expect(invalid(() => readDeadline([{ mimeType: DEADLINE_MIME, content: new Uint8Array(4) }])).message).toContain('is zero');
  });

  it('INVALID_ARGUMENT: more than one deadline entry (which would bind is ambiguous)', () => {
    expect(invalid(() => readDeadline([deadlineEntry(5), deadlineEntry(10)])).message).toBe(
      'metadata has more than one deadline entry (application/x.sluice.deadline); send at most one',
    );
  });
});
