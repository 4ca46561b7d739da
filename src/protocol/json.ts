/** JSON payload data (application/json, UTF-8). Isomorphic. */
import { SluiceError } from '../errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 bytes of a string: TextEncoder by default (browsers). Node transports
 * install Buffer.from, which takes small strings from Buffer's shared pool
 * where TextEncoder allocates an ArrayBuffer of its own per call: that
 * allocation and its garbage were a tenth of a service's CPU per streamed item.
 */
let utf8: (text: string) => Uint8Array = (text) => encoder.encode(text);

/** Replaces how strings become UTF-8 bytes (Node: Buffer.from); the function must return exact UTF-8. */
export function setUtf8Encoder(fn: (text: string) => Uint8Array): void {
  utf8 = fn;
}

export function encodeJson(value: unknown): Uint8Array {
  return value === undefined ? new Uint8Array(0) : utf8(JSON.stringify(value));
}

/** Empty data decodes to `undefined`; anything that is not UTF-8 JSON is `INVALID_ARGUMENT`. */
export function decodeJson(bytes: Uint8Array | null): unknown {
  if (!bytes || bytes.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `payload data is not valid UTF-8 JSON: ${(err as Error).message}`, { cause: err });
  }
}

export function encodeText(text: string): Uint8Array {
  return utf8(text);
}

export function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
