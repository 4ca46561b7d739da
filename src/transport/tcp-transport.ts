/**
 * RSocket over TCP: length-prefixed frames on a `net.Socket`. Frames sent in
 * the same tick leave as one buffer on the next tick (see OutboundBatch).
 */
import type { Socket } from 'node:net';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import './node-buffers.js';

import { FrameSplitter } from './length-framing.js';
import { OutboundBatch } from './outbound-batch.js';

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
    return this.socket.writableLength + this.batch.pendingBytes;
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

  /** Frames sent in the same tick leave in one write on the next tick. */
  send(frame: Uint8Array): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (this.batch.add(frame)) process.nextTick(this.flush);
  }

  private readonly batch = new OutboundBatch('length-prefixed', (chunk) => {
    this.socket.write(chunk);
    return this.socket.writableLength > 0;
  });
  private readonly flush = () => {
    if (this.socket.destroyed || !this.socket.writable) {
      this.batch.clear();
      return;
    }
    this.writeBatch();
  };

  /**
   * Not corked: the batch is one buffer (several only past 64 KiB or with
   * large frames, each big enough to be its own write), and an uncorked
   * write the socket completes at once frees the batch's buffer for reuse.
   */
  private writeBatch(): void {
    this.batch.flush();
  }

  close(): void {
    if (!this.socket.destroyed && this.socket.writable) this.writeBatch();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.batch.clear();
    this.socket.destroy();
  }
}
