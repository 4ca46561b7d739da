/**
 * The outbound frames of one tick, framed for the wire (WebSocket message
 * headers, masked from a client; or TCP's 24-bit length prefixes) and copied
 * into one buffer, so a burst of small frames costs one socket write of one
 * buffer instead of two writes, two queued chunks and a header allocation
 * per frame. Profiles of the gateway put the write path (the `ws` sender,
 * Writable bookkeeping and writev over hundreds of tiny iovecs) at a third of
 * its CPU per message; this is that path, done once per tick.
 *
 * Bounded by its caller: pending bytes count in the transport's
 * `bufferedBytes`, which the connection holds under its hard limit, and the
 * batch is written out on the next tick whatever its size.
 */
import { randomFillSync } from 'node:crypto';
import { maskCopy, wordView } from './ws-mask.js';

/** How frames are delimited on the wire. */
export type Framing = 'ws-server' | 'ws-client' | 'length-prefixed';

/** Bytes copied into one write buffer at most; a larger burst is written in several. */
const CHUNK_BYTES = 64 * 1024;
/** Frames at least this large are written as they are, behind their header, instead of copied (unless masked). */
const LARGE_FRAME = 16 * 1024;
/** Random bytes drawn at once for WebSocket masking keys (4 per frame). */
const MASK_POOL = 4 * 1024;

/** Largest payload a 24-bit length prefix can carry. */
const MAX_U24 = 0xffffff;

/**
 * One write buffer shared by every batch in the process: a batch is built
 * and written synchronously, and when the socket takes all of it at once
 * (the usual case: `write` reports nothing held), the next batch reuses it.
 * When the socket keeps it queued, it is the socket's, and a new one is made.
 * Reusing it spares an off-heap allocation per batch, which the garbage
 * collector otherwise pays for.
 */
let scratch = Buffer.allocUnsafe(CHUNK_BYTES);
/** `scratch` as 32-bit words, for masking (made when first needed, again when `scratch` is replaced). */
let scratchWords: Uint32Array | undefined;

let maskPool = Buffer.alloc(0);
let maskOffset = 0;

/** Four unpredictable bytes per masked frame (RFC 6455 section 5.3), drawn from the CSPRNG in blocks. */
function nextMask(): number {
  if (maskOffset + 4 > maskPool.length) {
    maskPool = randomFillSync(Buffer.allocUnsafe(MASK_POOL));
    maskOffset = 0;
  }
  const o = maskOffset;
  maskOffset += 4;
  return o;
}

/** Bytes of wire framing in front of a frame of `length` bytes. */
export function headerSize(framing: Framing, length: number): number {
  if (framing === 'length-prefixed') return 3;
  const base = length < 126 ? 2 : length < 65536 ? 4 : 10;
  return framing === 'ws-client' ? base + 4 : base;
}

/**
 * Writes the wire framing of a frame of `length` bytes at `out[o]`; returns
 * the offset after it and, for a masked frame, where its key is in the pool.
 */
function writeHeader(framing: Framing, out: Uint8Array, o: number, length: number): number {
  if (framing === 'length-prefixed') {
    if (length > MAX_U24) throw new RangeError(`frame of ${length} bytes exceeds the 24-bit length prefix`);
    out[o] = length >>> 16;
    out[o + 1] = (length >>> 8) & 0xff;
    out[o + 2] = length & 0xff;
    return o + 3;
  }
  const mask = framing === 'ws-client' ? 0x80 : 0;
  out[o] = 0x82; // FIN, binary
  if (length < 126) {
    out[o + 1] = mask | length;
    o += 2;
  } else if (length < 65536) {
    out[o + 1] = mask | 126;
    out[o + 2] = length >>> 8;
    out[o + 3] = length & 0xff;
    o += 4;
  } else {
    out[o + 1] = mask | 127;
    out[o + 2] = 0;
    out[o + 3] = 0;
    out[o + 4] = 0;
    out[o + 5] = 0;
    out[o + 6] = length >>> 24;
    out[o + 7] = (length >>> 16) & 0xff;
    out[o + 8] = (length >>> 8) & 0xff;
    out[o + 9] = length & 0xff;
    o += 10;
  }
  return o;
}

/**
 * Copies `frame` to `out[o]`, masked when the framing says so (its key in
 * front of it); returns the offset after it. `words` is `wordView(out)`,
 * for masking 32 bits at a time.
 */
function writeBody(framing: Framing, out: Uint8Array, words: Uint32Array | undefined, o: number, frame: Uint8Array): number {
  if (framing !== 'ws-client') {
    out.set(frame, o);
    return o + frame.length;
  }
  const k = nextMask();
  out[o] = maskPool[k]!;
  out[o + 1] = maskPool[k + 1]!;
  out[o + 2] = maskPool[k + 2]!;
  out[o + 3] = maskPool[k + 3]!;
  o += 4;
  maskCopy(out, words!, o, frame, maskPool, k);
  return o + frame.length;
}

/** Frames queued during a tick, handed to `write` as few buffers on `flush`. */
export class OutboundBatch {
  private frames: Uint8Array[] = [];
  private bytes = 0;

  constructor(
    private readonly framing: Framing,
    /**
     * Writes one buffer to the socket (called only from `flush`); returns
     * true when the socket still holds it queued, false when the operating
     * system has taken all of it (the buffer may then be reused).
     */
    private readonly write: (chunk: Uint8Array) => boolean,
  ) {}

  /** Bytes queued and not yet handed to `write`, framing included. */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** Queues a frame; true when it is the first since the last flush (the caller schedules one). */
  add(frame: Uint8Array): boolean {
    this.frames.push(frame);
    this.bytes += headerSize(this.framing, frame.length) + frame.length;
    return this.frames.length === 1;
  }

  /** Drops what is queued (the socket is gone). */
  clear(): void {
    this.frames = [];
    this.bytes = 0;
  }

  /** Hands everything queued to `write`, in order: small frames copied together, large ones behind their own header. */
  flush(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    const framing = this.framing;
    this.frames = [];
    let remaining = this.bytes;
    this.bytes = 0;
    let out: Buffer | undefined;
    let words: Uint32Array | undefined;
    let o = 0;
    for (const frame of frames) {
      const head = headerSize(framing, frame.length);
      const size = head + frame.length;
      remaining -= size;
      if (frame.length >= LARGE_FRAME && framing !== 'ws-client') {
        if (out) this.emit(out, o);
        out = undefined;
        const header = Buffer.allocUnsafe(head);
        writeHeader(framing, header, 0, frame.length);
        this.write(header);
        this.write(frame);
        continue;
      }
      if (out && o + size > out.length) {
        this.emit(out, o);
        out = undefined;
      }
      if (!out) {
        // The shared buffer when it fits, else one sized for what is left (a large masked frame).
        out = size <= scratch.length ? scratch : Buffer.allocUnsafe(Math.max(size, Math.min(CHUNK_BYTES, size + remaining)));
        if (framing === 'ws-client') words = out === scratch ? (scratchWords ??= wordView(scratch)) : wordView(out);
        o = 0;
      }
      o = writeHeader(framing, out, o, frame.length);
      o = writeBody(framing, out, words, o, frame);
    }
    if (out && o > 0) this.emit(out, o);
  }

  private emit(out: Buffer, length: number): void {
    const held = this.write(out.subarray(0, length));
    if (held && out === scratch) {
      scratch = Buffer.allocUnsafe(CHUNK_BYTES);
      scratchWords = undefined;
    }
  }
}
