/**
 * The deadline metadata entry: how long the caller is still willing to wait.
 * Isomorphic.
 *
 * Composite metadata entry `application/x.sluice.deadline`, content 4 bytes:
 * an unsigned big-endian integer of milliseconds REMAINING (1..2^32-1, about
 * 49.7 days). Relative rather than an absolute time so that the two ends'
 * clocks need not agree; each hop reads it on arrival, measures from there
 * with its own monotonic clock, and writes what is left when it forwards.
 * Transit time is not subtracted, so a deadline is slightly generous by the
 * network latency of each hop.
 */
import { SluiceError } from '../errors.js';
import type { MetadataEntry } from '../protocol/metadata.js';

export const DEADLINE_MIME = 'application/x.sluice.deadline';

/** Largest encodable remaining time in ms (4 bytes unsigned). */
export const MAX_DEADLINE_MS = 0xffffffff;

/**
 * Encodes a remaining time. Fractions round up (0.2 ms left is 1 ms, never
 * 0). Throws RangeError when `remainingMs` is not in (0, MAX_DEADLINE_MS]:
 * an expired deadline must fail the call, not travel.
 */
export function encodeDeadline(remainingMs: number): Uint8Array {
  const ms = Math.ceil(remainingMs);
  if (!(ms >= 1 && ms <= MAX_DEADLINE_MS)) throw new RangeError(`deadline must be 1..${MAX_DEADLINE_MS} ms remaining, got ${remainingMs}`);
  return Uint8Array.of(ms >>> 24, (ms >>> 16) & 0xff, (ms >>> 8) & 0xff, ms & 0xff);
}

/** Decodes the entry's content into ms remaining (1..MAX_DEADLINE_MS). Throws SluiceError INVALID_ARGUMENT. */
export function decodeDeadline(content: Uint8Array): number {
  if (content.length !== 4) throw new SluiceError('INVALID_ARGUMENT', `deadline metadata (${DEADLINE_MIME}) must be 4 bytes, got ${content.length}`);
  const ms = content[0]! * 0x1000000 + ((content[1]! << 16) | (content[2]! << 8) | content[3]!);
  if (ms === 0) throw new SluiceError('INVALID_ARGUMENT', `deadline metadata (${DEADLINE_MIME}) is zero: it must be 1..${MAX_DEADLINE_MS} ms remaining`);
  return ms;
}

/** A composite metadata entry carrying `remainingMs` (see encodeDeadline for the range). */
export function deadlineEntry(remainingMs: number): MetadataEntry {
  return { mimeType: DEADLINE_MIME, content: encodeDeadline(remainingMs) };
}

/**
 * The ms remaining from the request's deadline entry, or undefined when it
 * has none. Throws SluiceError INVALID_ARGUMENT like decodeDeadline, and when
 * there is more than one deadline entry (which one would bind is ambiguous).
 */
export function readDeadline(entries: readonly MetadataEntry[]): number | undefined {
  let found: MetadataEntry | undefined;
  for (const entry of entries) {
    if (entry.mimeType !== DEADLINE_MIME) continue;
    if (found) throw new SluiceError('INVALID_ARGUMENT', `metadata has more than one deadline entry (${DEADLINE_MIME}); send at most one`);
    found = entry;
  }
  return found ? decodeDeadline(found.content) : undefined;
}
