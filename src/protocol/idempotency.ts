/**
 * The idempotency-key metadata entry: a caller's name for one command, so
 * that sending it again (after a lost acknowledgement, a reconnect, a
 * failover) is recognised as the same command. Durable routes deduplicate on
 * it within their window. Isomorphic.
 *
 * Composite metadata entry `application/x.sluice.idempotency-key`, content:
 * the key in UTF-8, 1 to 1024 bytes.
 */
import { SluiceError } from '../errors.js';
import type { MetadataEntry } from './metadata.js';

export const IDEMPOTENCY_KEY_MIME = 'application/x.sluice.idempotency-key';

/** Longest key in UTF-8 bytes. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 1024;

/** The entry carrying `key`. Throws RangeError when it is empty or longer than MAX_IDEMPOTENCY_KEY_BYTES. */
export function idempotencyKeyEntry(key: string): MetadataEntry {
  const content = new TextEncoder().encode(key);
  if (content.length < 1 || content.length > MAX_IDEMPOTENCY_KEY_BYTES) throw new RangeError(`idempotency key must be 1..${MAX_IDEMPOTENCY_KEY_BYTES} UTF-8 bytes, got ${content.length}`);
  return { mimeType: IDEMPOTENCY_KEY_MIME, content };
}

/** The key among `entries`, undefined without one. Throws SluiceError INVALID_ARGUMENT for an empty, oversized or non-UTF-8 key. */
export function readIdempotencyKey(entries: readonly MetadataEntry[]): string | undefined {
  const entry = entries.find((e) => e.mimeType === IDEMPOTENCY_KEY_MIME);
  if (!entry) return undefined;
  if (entry.content.length < 1 || entry.content.length > MAX_IDEMPOTENCY_KEY_BYTES) {
    throw new SluiceError('INVALID_ARGUMENT', `idempotency key (${IDEMPOTENCY_KEY_MIME}) must be 1..${MAX_IDEMPOTENCY_KEY_BYTES} bytes, got ${entry.content.length}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(entry.content);
  } catch {
    throw new SluiceError('INVALID_ARGUMENT', `idempotency key (${IDEMPOTENCY_KEY_MIME}) is not UTF-8`);
  }
}
