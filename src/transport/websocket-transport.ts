/**
 * RSocket over WebSocket (one binary message per frame) on a `ws` socket,
 * for both the gateway's accepted sockets and Node clients.
 *
 * Frames sent in the same tick leave in one write: the TCP socket is corked
 * on the first send and uncorked on the next tick, which turns a burst of
 * small PAYLOAD frames into one writev instead of one syscall each.
 * `bufferedBytes` is what `ws` and the socket hold unwritten; the socket's
 * `drain` tells the connection when producers may resume.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import { setFrameAllocator } from '../protocol/codec.js';

// Frames in Node come from Buffer's pool: most are small and short-lived.
setFrameAllocator((size) => Buffer.allocUnsafe(size));

export class WebSocketTransport implements FrameTransport {
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    private readonly ws: WebSocket,
    /** The TCP socket under `ws` (from the upgrade), for corking and drain. */
    private readonly socket: Duplex,
    readonly remoteAddress: string,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  start(handler: TransportHandler): void {
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        handler.onInvalid('text WebSocket message: RSocket frames travel as binary messages');
        return;
      }
      handler.onFrame(toBytes(data));
    });
    this.socket.on('drain', () => handler.onDrain());
    this.ws.on('close', () => handler.onClose());
    this.ws.on('error', (err) => handler.onClose(err));
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.ws.send(frame, { binary: true });
  }

  close(): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000);
    // A peer that never answers the closing handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2_000).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  return new Uint8Array(data as ArrayBuffer);
}
