/**
 * RSocket over WebSocket on a socket taken over from `ws` once its handshake
 * is done, for either end: the gateway's accepted sockets and the Node
 * client's (and services') outgoing ones. Frames are read by WsFrameReader
 * straight from the socket's chunks and written in per-tick batches by
 * OutboundBatch, so no `ws` receiver, sender or per-message event sits on the
 * hot path. The closing handshake, pongs and the close codes of RFC 6455 are
 * done here, once for both ends; what differs is only which frames are masked
 * (section 5.3: everything a client writes, nothing a server writes).
 */
import { randomFillSync } from 'node:crypto';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { FrameTransport, TransportHandler } from '../rsocket/transport.js';
import './node-buffers.js';
import { OutboundBatch } from './outbound-batch.js';
import { CloseCode, WsFrameReader, type WsFrameSink } from './ws-frame-reader.js';

/** Ms a closing socket waits for the peer's close frame (or its FIN) before it is cut off. */
export const CLOSE_TIMEOUT_MS = 2_000;
/** Bytes the socket may hold unwritten for a ping still to be answered: a peer that does not read gets no pongs. */
export const MAX_PONG_BACKLOG = 64 * 1024;

/**
 * A `ws` WebSocket that stops at the handshake. `ws` calls `setSocket` once
 * the upgrade is done (a server after writing the 101 answer, a client after
 * checking it); here that keeps the socket and any bytes that came with the
 * handshake, and emits `taken`, instead of attaching `ws`'s receiver and
 * sender. Given to a WebSocketServer as its `WebSocket` class on the gateway,
 * constructed directly by the Node client.
 */
export class HandshakeOnlyWebSocket extends WebSocket {
  takenSocket: Socket | undefined;
  takenHead: Buffer = Buffer.alloc(0);

  /** Called by `ws` once the upgrade is done; takes the socket over. */
  setSocket(socket: Socket, head: Buffer): void {
    socket.setTimeout(0);
    socket.setNoDelay(true);
    this.takenSocket = socket;
    this.takenHead = head;
    this.emit('taken');
  }
}

export class SocketWebSocketTransport implements FrameTransport, WsFrameSink {
  private readonly batch: OutboundBatch;
  private readonly reader: WsFrameReader;
  /** Control frames (pong, close) as this end must write them: masked from a client, not from a server. */
  private readonly controlFrame: (firstByte: number, payload: Uint8Array) => Buffer;
  private handler: TransportHandler | undefined;
  /** An error the socket had before start(): handed to the handler when it comes. */
  private earlyError: Error | undefined;
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
    /** Which end of the WebSocket this is: a server reads masked frames and writes unmasked ones, a client the other way round. */
    end: 'server' | 'client',
    private readonly socket: Socket,
    /** Bytes that came with the handshake (after the upgrade request, or after the 101 answer), parsed before the socket's own. */
    private head: Buffer,
    readonly remoteAddress: string,
    /** Largest message the peer may send, in bytes (the gateway's limits.maxFrameSize). */
    maxPayload: number,
  ) {
    this.reader = new WsFrameReader(this, maxPayload, undefined, end === 'server' ? 'client' : 'server');
    this.controlFrame = end === 'server' ? controlFrame : maskedControlFrame;
    this.batch = new OutboundBatch(end === 'server' ? 'ws-server' : 'ws-client', (chunk) => {
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
    if (this.state === 'closed') {
      // The socket failed between the handshake and start(): say so now, or the connection would wait for a close that has passed.
      handler.onClose(this.earlyError);
      return;
    }
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // The peer's FIN without a closing handshake: end ours too (1006 for both ends).
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

  /** What was sent goes first, then our close frame; the socket ends when the peer answers it. */
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
    // A gateway's connection answers with an ERROR frame and close(); in case it was already closing:
    this.close();
  }

  onPing(payload: Uint8Array): void {
    if (this.state !== 'open' || this.socket.writableLength > MAX_PONG_BACKLOG) return;
    this.socket.write(this.controlFrame(0x8a, payload));
  }

  onCloseFrame(code: number | undefined): void {
    this.closeReceived = true;
    if (this.state === 'open') {
      // Echo the peer's code (RFC 6455 section 5.5.1), after what was already sent.
      this.batch.flush();
      this.state = 'closing';
      this.writeClose(code);
      setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
    }
    // Both close frames have passed: the TCP connection may end (RFC 6455 section 7.1.1).
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
      this.socket.write(this.controlFrame(0x88, new Uint8Array(0)));
      return;
    }
    const text = Buffer.from(reason.slice(0, 120), 'utf8').subarray(0, 123);
    const body = Buffer.allocUnsafe(2 + text.length);
    body.writeUInt16BE(code, 0);
    text.copy(body, 2);
    this.socket.write(this.controlFrame(0x88, body));
  }

  private closed(error?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.batch.clear();
    const handler = this.handler;
    if (handler) handler.onClose(error);
    else {
      this.earlyError = error;
      this.socket.destroy();
    }
  }
}

/** The gateway's end of a WebSocket connection: reads masked frames, writes unmasked ones. */
export class ServerWebSocketTransport extends SocketWebSocketTransport {
  constructor(socket: Socket, head: Buffer, remoteAddress: string, maxPayload: number) {
    super('server', socket, head, remoteAddress, maxPayload);
  }
}

/** The Node client's (or a service's) end of a WebSocket connection to a gateway: reads unmasked frames, masks every frame it writes. */
export class ClientWebSocketTransport extends SocketWebSocketTransport {
  constructor(socket: Socket, head: Buffer, remoteAddress: string, maxPayload: number) {
    super('client', socket, head, remoteAddress, maxPayload);
  }
}

/** An unmasked server control frame (FIN set) with a payload of at most 125 bytes. */
function controlFrame(firstByte: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + payload.length);
  out[0] = firstByte;
  out[1] = payload.length;
  out.set(payload, 2);
  return out;
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
