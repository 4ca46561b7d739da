import { describe, expect, it } from 'vitest';
import { readJsonObject } from '../../src/fleet/json-object.js';

const enc = (text: string) => new TextEncoder().encode(text);

describe('readJsonObject (what gateways read from each other)', () => {
  it('returns the object in UTF-8 JSON bytes', () => {
    expect(readJsonObject(enc('{"id":"gw-1","n":[1,2]}'))).toEqual({ id: 'gw-1', n: [1, 2] });
  });

  it('is undefined for JSON that is not an object, for bad JSON and for bytes that are not UTF-8', () => {
    for (const text of ['[]', '[{"id":"x"}]', 'null', '3', '"s"', 'true', '{"id":', '']) expect(readJsonObject(enc(text)), text).toBeUndefined();
    expect(readJsonObject(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).toBeUndefined();
  });
});
