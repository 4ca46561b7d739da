/**
 * RSocket over WebSocket (one binary message per frame) on a `ws` socket,
 * for both the gateway's accepted sockets and Node clients.
 *
 * `ws` never makes `send` wait for the socket, so this transport counts the
 * bytes it handed to `ws` until each write's callback reports them flushed;
 * the connection reads that count to pause producers and to drop peers that
 * stop reading.
 */
import type { WebSocket } from 'ws';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';

export class WebSocketTransport implements FrameTransport {
  private pending = 0;
  private pendingFrames = 0;
  private handler: TransportHandler | undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {}

  get bufferedBytes(): number {
    return this.pending;
  }

  get bufferedFrames(): number {
    return this.pendingFrames;
  }

  start(handler: TransportHandler): void {
    this.handler = handler;
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        handler.onInvalid('text WebSocket message: RSocket frames travel as binary messages');
        return;
      }
      handler.onFrame(toBytes(data));
    });
    this.ws.on('close', () => handler.onClose());
    this.ws.on('error', (err) => handler.onClose(err));
  }

  send(frame: Uint8Array): void {
    const n = frame.length;
    this.pending += n;
    this.pendingFrames++;
    this.ws.send(frame, { binary: true }, () => {
      this.pending -= n;
      this.pendingFrames--;
      this.handler?.onDrain();
    });
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
