import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { decodeJson, decodeText, encodeJson, encodeText } from '../../src/protocol/json.js';

describe('JSON payload data', () => {
  it('round-trips JSON values as UTF-8', () => {
    for (const v of [{ a: [1, 'ü', null, true] }, 'text', 0, false, null, []]) expect(decodeJson(encodeJson(v))).toEqual(v);
    expect(Buffer.from(encodeJson({ k: 'é' })).toString('hex')).toBe(Buffer.from('{"k":"é"}', 'utf8').toString('hex'));
  });

  it('undefined encodes as empty data, and empty or absent data decodes as undefined', () => {
    expect(encodeJson(undefined).length).toBe(0);
    expect(decodeJson(new Uint8Array(0))).toBeUndefined();
    expect(decodeJson(null)).toBeUndefined();
  });

  it('invalid JSON and invalid UTF-8 are INVALID_ARGUMENT with the parser error as cause', () => {
    for (const bytes of [encodeText('{"a":'), Uint8Array.of(0x22, 0xff, 0x22)]) {
      let caught: unknown;
      try {
        decodeJson(bytes);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SluiceError);
      const e = caught as SluiceError;
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message.startsWith('payload data is not valid UTF-8 JSON: ')).toBe(true);
      expect(e.message).toBe(`payload data is not valid UTF-8 JSON: ${(e.cause as Error).message}`);
    }
  });

  it('text helpers are strict UTF-8', () => {
    expect(decodeText(encodeText('ü✓'))).toBe('ü✓');
    expect(() => decodeText(Uint8Array.of(0xc3, 0x28))).toThrow(TypeError);
  });
});

describe('encodeJson with the Node transports loaded (Buffer.from)', () => {
  it('gives exactly the bytes TextEncoder gives, for non-ASCII text and escaped lone surrogates too', async () => {
    await import('../../src/transport/node-buffers.js');
    const value = { a: 'héllo wörld €', b: '\u{1F600}', c: '\ud800 lone', n: [1, 2.5, null] };
    const bytes = encodeJson(value);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(Array.from(bytes)).toEqual(Array.from(new TextEncoder().encode(JSON.stringify(value))));
    expect(decodeJson(bytes)).toEqual(value);
  });
});
