/**
 * RSocket over WebSocket on a socket the Node client (or a service) opened to
 * a gateway. `ws` sends the upgrade request and checks the 101 answer; from
 * then on the socket is the client's own, as on the gateway's side: the
 * server's unmasked frames are read by WsFrameReader straight from the
 * socket's chunks, and frames are written masked in per-tick batches by
 * OutboundBatch. Profiles of the bench service and of the requester showed
 * the `ws` receiver (its Writable, chunk queue and per-message event) among
 * their top costs. Pongs, the closing handshake and the close codes of RFC
 * 6455 are done here; every frame this end writes is masked (section 5.3).
 */
import { randomFillSync } from 'node:crypto';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import './node-buffers.js';
import { OutboundBatch } from './outbound-batch.js';
import { CloseCode, WsFrameReader, type WsFrameSink } from './ws-frame-reader.js';
import { CLOSE_TIMEOUT_MS, MAX_PONG_BACKLOG } from './ws-server-transport.js';

/**
 * A `ws` client socket that stops at the handshake: once `ws` has checked the
 * server's 101 answer it calls `setSocket`, which here keeps the socket (and
 * any bytes that came with the answer) and emits `taken` instead of reading
 * it, so `ws` never attaches its receiver or sender.
 */
export class HandshakeOnlyWebSocket extends WebSocket {
  takenSocket: Socket | undefined;
  takenHead: Buffer = Buffer.alloc(0);

  /** Called by `ws` once the upgrade is accepted; takes the socket over. */
  setSocket(socket: Socket, head: Buffer): void {
    socket.setTimeout(0);
    socket.setNoDelay(true);
    this.takenSocket = socket;
    this.takenHead = head;
    this.emit('taken');
  }
}

export class ClientWebSocketTransport implements FrameTransport, WsFrameSink {
  private readonly batch: OutboundBatch;
  private readonly reader: WsFrameReader;
  private handler: TransportHandler | undefined;
  /** open: frames flow; closing: our close frame is sent (or the peer's came); closed: the socket is gone. */
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeReceived = false;
  /** The code our close frame carries: 1003 after a text message, else 1000. */
  private closeCode: number = CloseCode.NORMAL;
  private readonly flush = () => {
    if (this.state !== 'open') this.batch.clear();
    else this.batch.flush();
  };

  constructor(
    private readonly socket: Socket,
    /** Bytes read with the 101 answer, parsed before the socket's own. */
    private head: Buffer,
    readonly remoteAddress: string,
    /** Largest message the gateway may send, in bytes. */
    maxPayload: number,
  ) {
    this.reader = new WsFrameReader(this, maxPayload, undefined, 'server');
    this.batch = new OutboundBatch('ws-client', (chunk) => {
      this.socket.write(chunk);
      return this.socket.writableLength > 0;
    });
    // Until start(): an error must not go unhandled.
    socket.on('error', (err) => this.closed(err));
  }

  get bufferedBytes(): number {
    return this.socket.writableLength + this.batch.pendingBytes;
  }

  start(handler: TransportHandler): void {
    this.handler = handler;
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // The server's FIN without a closing handshake: end ours too (1006 for this side).
    socket.on('end', () => socket.end());
    socket.on('drain', () => handler.onDrain());
    socket.on('close', () => this.closed());
    if (this.head.length > 0) {
      const head = this.head;
      this.head = Buffer.alloc(0);
      this.onData(head);
    }
  }

  send(frame: Uint8Array): void {
    if (this.state !== 'open') return;
    if (this.batch.add(frame)) process.nextTick(this.flush);
  }

  /** What was sent goes first, then our close frame; the socket ends when the server answers it. */
  close(): void {
    if (this.state !== 'open') return;
    this.batch.flush();
    this.state = 'closing';
    this.writeClose(this.closeCode);
    if (this.closeReceived) this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
  }

  destroy(): void {
    this.batch.clear();
    this.socket.destroy();
  }

  // ------------------------------------------------------------ WsFrameSink

  onMessage(data: Uint8Array): void {
    if (this.state === 'open') this.handler!.onFrame(data);
  }

  onText(): void {
    this.closeCode = CloseCode.UNSUPPORTED_DATA;
    this.handler!.onInvalid('text WebSocket message: RSocket frames travel as binary messages');
    this.close();
  }

  onPing(payload: Uint8Array): void {
    if (this.state !== 'open' || this.socket.writableLength > MAX_PONG_BACKLOG) return;
    this.socket.write(maskedControlFrame(0x8a, payload));
  }

  onCloseFrame(code: number | undefined): void {
    this.closeReceived = true;
    if (this.state === 'open') {
      // Echo the server's code (RFC 6455 section 5.5.1), after what was already sent.
      this.batch.flush();
      this.state = 'closing';
      this.writeClose(code);
      setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
    }
    // Both close frames have passed: the TCP connection may end (the server ends its side too).
    this.socket.end();
  }

  // --------------------------------------------------------------- inbound

  private onData(chunk: Buffer): void {
    if (this.reader.done || this.state === 'closed') return;
    const err = this.reader.push(chunk);
    if (!err) return;
    // Fail the WebSocket connection (RFC 6455 section 7.1.7): close frame with the code, then end.
    if (this.state === 'open') {
      this.batch.clear();
      this.state = 'closing';
      this.writeClose(err.code, err.reason);
    }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
    this.closed(new Error(`WebSocket protocol error (close ${err.code}): ${err.reason}`));
  }

  private writeClose(code: number | undefined, reason = ''): void {
    if (!this.socket.writable) return;
    if (code === undefined) {
      this.socket.write(maskedControlFrame(0x88, new Uint8Array(0)));
      return;
    }
    const text = Buffer.from(reason.slice(0, 120), 'utf8').subarray(0, 123);
    const body = Buffer.allocUnsafe(2 + text.length);
    body.writeUInt16BE(code, 0);
    text.copy(body, 2);
    this.socket.write(maskedControlFrame(0x88, body));
  }

  private closed(error?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.batch.clear();
    const handler = this.handler;
    if (handler) handler.onClose(error);
    else this.socket.destroy();
  }
}

/** A masked client control frame (FIN set) with a payload of at most 125 bytes and a fresh random key. */
function maskedControlFrame(firstByte: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(6 + payload.length);
  out[0] = firstByte;
  out[1] = 0x80 | payload.length;
  randomFillSync(out, 2, 4);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ out[2 + (i & 3)]!;
  return out;
}
