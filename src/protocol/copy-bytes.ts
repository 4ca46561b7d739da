/**
 * Bytes kept past the read they arrived in (a cache entry, a queued command,
 * a frame held before SETUP, a handler's binary data) must be a copy in a
 * buffer of their own. Not `bytes.slice()`: on a Node Buffer, which is what
 * the transports hand over, `slice` is another view of the same memory, so
 * the "copy" would pin the whole socket read (64 KiB or more) and share
 * whatever later writes into it. Uint8Array's own slice copies on every
 * runtime, the browser's included.
 */
export function copyOf(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}
