/**
 * RSocket over WebSocket (one binary message per frame) on a `ws` socket
 * that `ws` reads: for sockets made with `ws` directly (the benchmarks'
 * direct server and scale clients, tests). The gateway's accepted sockets
 * (ServerWebSocketTransport) and the Node client's (ClientWebSocketTransport)
 * are read by Sluice's own WsFrameReader instead.
 *
 * Frames sent in the same tick leave in one write: they are framed as
 * WebSocket binary messages (masked from a client) into one buffer on the
 * next tick (see OutboundBatch), instead of going through the `ws` sender
 * one message at a time; `ws` still does the handshake, receiving, pings and
 * the closing handshake. No extension is negotiated (perMessageDeflate is
 * off on both sides), so a message is its header and its bytes.
 * `bufferedBytes` is what is batched plus what `ws` and the socket hold
 * unwritten; the socket's `drain` tells the connection when producers may
 * resume.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import './node-buffers.js';
import { OutboundBatch } from './outbound-batch.js';


export class WebSocketTransport implements FrameTransport {
  private readonly batch: OutboundBatch;
  private readonly flush = () => {
    // Closed since: the closing handshake (or nothing) is all that may follow.
    if (this.ws.readyState !== this.ws.OPEN) this.batch.clear();
    else this.writeBatch();
  };

  constructor(
    private readonly ws: WebSocket,
    /** The TCP (or TLS) socket under `ws` (from the upgrade): batches are written to it, and its drain is watched. */
    private readonly socket: Duplex,
    readonly remoteAddress: string,
    /**
     * Which end of the WebSocket this is: a client masks what it sends (RFC
     * 6455 5.3). Default: from `ws`, whose client sockets have a URL and
     * server-side ones none.
     */
    role: 'server' | 'client' = ws.url ? 'client' : 'server',
  ) {
    this.batch = new OutboundBatch(role === 'client' ? 'ws-client' : 'ws-server', (chunk) => {
      this.socket.write(chunk);
      return this.socket.writableLength > 0;
    });
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount + this.batch.pendingBytes;
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
    if (this.batch.add(frame)) process.nextTick(this.flush);
  }

  /**
   * Not corked: the batch is one buffer (several only past 64 KiB or with
   * large frames, each big enough to be its own write), and an uncorked
   * write the socket completes at once frees the batch's buffer for reuse.
   */
  private writeBatch(): void {
    this.batch.flush();
  }

  close(): void {
    // What was sent before close() goes before the closing handshake.
    if (this.ws.readyState === this.ws.OPEN) this.writeBatch();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000);
    // A peer that never answers the closing handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2_000).unref();
  }

  destroy(): void {
    this.batch.clear();
    this.ws.terminate();
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  return new Uint8Array(data as ArrayBuffer);
}
