/**
 * WebSocket masking (RFC 6455 section 5.3): byte `j` of a payload is XORed
 * with byte `j mod 4` of the frame's key. Every frame a client writes is
 * masked, so the Node client and services pay this on every byte they send;
 * done a byte at a time it is four loads, four XORs and four stores per word.
 * Here the bytes are first copied as they are (a memcpy), then XORed in place
 * 32 bits at a time over the 4-byte-aligned middle of the copy, with the key
 * rotated to the phase of the first aligned byte; only the unaligned head and
 * the tail go byte by byte. `maskInPlace` is the same XOR where the bytes
 * already lie (the reader of masked frames unmasks a payload in its socket
 * read). `maskCopyBytes` is the plain loop both must agree with (the unit
 * tests hold them to it for every length, offset and key).
 *
 * The 32-bit word of the key is built through a 4-byte buffer read as a
 * Uint32Array, so it is laid out in the machine's own byte order and the
 * XOR is right on either endianness.
 */

/** Below this many bytes the word loop's set-up costs more than it saves. */
const WORD_MIN = 16;

/** The rotated key, as bytes and as the one 32-bit word they make in the machine's order. */
const keyBytes = new Uint8Array(4);
const keyWord = new Uint32Array(keyBytes.buffer);

/**
 * A Uint32Array over the whole ArrayBuffer behind `buf`, from its byte 0, for
 * `maskCopy`: made once per output buffer, not per frame.
 */
export function wordView(buf: Uint8Array): Uint32Array {
  return new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
}

/**
 * Copies `src` to `out[o]` masked with the 4 key bytes at `key[k]`.
 * `words` is `wordView(out)` (the same ArrayBuffer).
 */
export function maskCopy(out: Uint8Array, words: Uint32Array, o: number, src: Uint8Array, key: Uint8Array, k: number): void {
  const n = src.length;
  if (n < WORD_MIN) {
    maskCopyBytes(out, o, src, key, k);
    return;
  }
  out.set(src, o);
  maskInPlace(out, words, o, n, key[k]!, key[k + 1]!, key[k + 2]!, key[k + 3]!);
}

/**
 * XORs `n` bytes of `buf` from `at` with the key `m0..m3` in place: what the
 * reader of masked frames does to a payload where it lies in its socket read.
 * `words` is `wordView(buf)` (the same ArrayBuffer).
 */
export function maskInPlace(buf: Uint8Array, words: Uint32Array, at: number, n: number, m0: number, m1: number, m2: number, m3: number): void {
  if (n < WORD_MIN) {
    for (let i = 0; i < n; i++) buf[at + i]! ^= (i & 3) === 0 ? m0 : (i & 3) === 1 ? m1 : (i & 3) === 2 ? m2 : m3;
    return;
  }
  // Head: bytes up to the first 4-byte boundary of the ArrayBuffer.
  const abs = buf.byteOffset + at;
  const head = (4 - (abs & 3)) & 3;
  for (let i = 0; i < head; i++) buf[at + i]! ^= i === 0 ? m0 : i === 1 ? m1 : m2;
  // The key as it lines up with the aligned words: byte i of the payload takes key byte i mod 4.
  const p = head; // head < 4, so the phase is head itself
  keyBytes[0] = p === 0 ? m0 : p === 1 ? m1 : p === 2 ? m2 : m3;
  keyBytes[1] = p === 0 ? m1 : p === 1 ? m2 : p === 2 ? m3 : m0;
  keyBytes[2] = p === 0 ? m2 : p === 1 ? m3 : p === 2 ? m0 : m1;
  keyBytes[3] = p === 0 ? m3 : p === 1 ? m0 : p === 2 ? m1 : m2;
  const word = keyWord[0]!;
  const first = (abs + head) >>> 2;
  const count = (n - head) >>> 2;
  const end = first + count;
  for (let w = first; w < end; w++) words[w]! ^= word;
  // Tail: what is left after the last whole word.
  for (let i = head + count * 4; i < n; i++) buf[at + i]! ^= (i & 3) === 0 ? m0 : (i & 3) === 1 ? m1 : (i & 3) === 2 ? m2 : m3;
}

/** The byte-at-a-time reference: copies `src` to `out[o]` masked with the 4 key bytes at `key[k]`. */
export function maskCopyBytes(out: Uint8Array, o: number, src: Uint8Array, key: Uint8Array, k: number): void {
  const n = src.length;
  for (let i = 0; i < n; i++) out[o + i] = src[i]! ^ key[k + (i & 3)]!;
}
