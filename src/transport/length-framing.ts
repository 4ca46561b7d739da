/**
 * RSocket's length-prefixed framing for byte-stream transports (TCP): each
 * frame is preceded by its 24-bit big-endian length. The splitter enforces a
 * maximum frame size before buffering anything, so a bogus length cannot make
 * it wait for (and hold) megabytes.
 */
export class FrameSplitter {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameSize: number) {}

  /** Feeds bytes; returns the complete frames, or a string explaining why the stream is invalid. */
  push(chunk: Uint8Array): Uint8Array[] | string {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.buffered < 3) return frames;
      const head = this.peek(3);
      const length = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
      if (length > this.maxFrameSize) return `frame length ${length} is over the ${this.maxFrameSize}-byte limit`;
      if (length < 6) return `frame length ${length} is shorter than a frame header`;
      if (this.buffered < 3 + length) return frames;
      this.take(3);
      frames.push(this.take(length));
    }
  }

  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    return this.flatten().subarray(0, n);
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length < n) this.flatten();
    const head = this.chunks[0]!;
    const out = head.subarray(0, n);
    if (head.length === n) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return out;
  }

  private flatten(): Uint8Array {
    const all = new Uint8Array(this.buffered);
    let o = 0;
    for (const c of this.chunks) {
      all.set(c, o);
      o += c.length;
    }
    this.chunks = [all];
    return all;
  }
}

export function lengthPrefix(length: number): Uint8Array {
  return Uint8Array.of((length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
}
