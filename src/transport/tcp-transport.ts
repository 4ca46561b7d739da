/** RSocket over TCP: length-prefixed frames on a `net.Socket`. */
import type { Socket } from 'node:net';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import { setFrameAllocator } from '../protocol/codec.js';

// Frames in Node come from Buffer's pool: most are small and short-lived.
setFrameAllocator((size) => Buffer.allocUnsafe(size));
import { FrameSplitter, lengthPrefix } from './length-framing.js';

export class TcpTransport implements FrameTransport {
  readonly remoteAddress: string;

  constructor(
    private readonly socket: Socket,
    private readonly maxFrameSize: number,
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  start(handler: TransportHandler): void {
    const splitter = new FrameSplitter(this.maxFrameSize);
    let invalid = false;
    this.socket.on('data', (chunk: Buffer) => {
      if (invalid) return;
      const frames = splitter.push(chunk);
      if (typeof frames === 'string') {
        invalid = true;
        handler.onInvalid(frames);
        return;
      }
      for (const f of frames) handler.onFrame(f);
    });
    this.socket.on('drain', () => handler.onDrain());
    this.socket.on('close', () => handler.onClose());
    this.socket.on('error', (err) => handler.onClose(err));
  }

  /** Frames sent in the same tick leave in one writev (corked until the next tick). */
  send(frame: Uint8Array): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(lengthPrefix(frame.length));
    this.socket.write(frame);
  }

  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  close(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
