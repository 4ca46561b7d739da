/** JSON payload data (application/json, UTF-8). Isomorphic. */
import { SluiceError } from '../errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return value === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(value));
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
  return encoder.encode(text);
}

export function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
