/**
 * Copies of payload bytes that the gateway keeps past the socket read they
 * came in (a request until its answer, an item held ahead of demand).
 */

/**
 * Bytes out of the socket read they came in, for as long as an interaction
 * keeps them: a view kept would pin the whole read (up to 64 KiB; more
 * from the TCP splitter). A small copy comes from Buffer's pool, so the
 * most it can pin is one pool slab (8 KiB), and it costs a quarter of an
 * exact copy, whose backing store V8 allocates and tracks apart (about 70
 * against 300 ns for 120 bytes). Not the view's own `slice`: on a Node
 * Buffer (what the transports hand over) that is another view of the read.
 */
export function ownBytes(b: Uint8Array | null): Uint8Array | null {
  return !b || b.byteLength === b.buffer.byteLength ? b : copyBytes(b);
}

/** A copy of `b` (from Buffer's pool when small, see ownBytes), whatever buffer it is in. */
export function copyBytes(b: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(b.length);
  copy.set(b);
  return copy;
}
