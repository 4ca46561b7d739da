/** RSocket over TCP: length-prefixed frames on a `net.Socket`. */
import type { Socket } from 'node:net';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import { FrameSplitter, lengthPrefix } from './length-framing.js';

export class TcpTransport implements FrameTransport {
  readonly remoteAddress: string;
  private pendingFrames = 0;

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

  get bufferedFrames(): number {
    return this.pendingFrames;
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

  send(frame: Uint8Array): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.cork();
    this.socket.write(lengthPrefix(frame.length));
    this.pendingFrames++;
    this.socket.write(frame, () => this.pendingFrames--);
    this.socket.uncork();
  }

  close(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
