/**
 * RFC 6455's reading side, straight from a socket's chunks: the gateway reads
 * the masked frames of the clients it accepted, and the Node client and the
 * services read the unmasked frames of the gateway. Binary messages are
 * handed on as views of those chunks (unmasked in place when masked), with no
 * copy unless a frame spans chunks or a message is fragmented. Profiles put
 * the `ws` receiver (a Writable per socket, a queue of chunks, an event per
 * message) at a tenth of the gateway's CPU when streaming, and of the
 * service's and the requester's; this is the same work done once per chunk.
 *
 * Strict, as RFC 6455 asks of both ends: a frame masked the wrong way (a
 * client's must be masked, a server's must not), reserved bits (no extension
 * is negotiated), an unknown opcode, a fragmented or oversize control frame,
 * a continuation out of place, or a bad close frame fails the connection
 * with the close code named in section 7.4.1. A message is bounded in bytes
 * (the configured frame limit, checked against each header before anything
 * is buffered) and in fragments.
 */
import { isUtf8 } from 'node:buffer';
import { maskInPlace, wordView } from './ws-mask.js';

/** WebSocket close codes (RFC 6455 section 7.4.1) the reader fails a connection with. */
export const CloseCode = {
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
} as const;

/** Fragments one message may arrive in, at most (as `ws`'s default): more fails with 1008. */
export const MAX_FRAGMENTS = 16 * 1024;

/** Which end wrote the frames read: a client masks every frame, a server none (RFC 6455 section 5.1). */
export type WsPeer = 'client' | 'server';

/** Largest control frame payload (RFC 6455 section 5.5). */
const MAX_CONTROL_PAYLOAD = 125;

/** Why the reader failed the connection: the close code to send and a reason for logs. */
export interface WsProtocolError {
  readonly code: number;
  readonly reason: string;
}

/** What the reader finds, called synchronously from `push`. */
export interface WsFrameSink {
  /** One complete binary message; a view the receiver may keep (the reader never touches it again). */
  onMessage(data: Uint8Array): void;
  /** A text message began: the reader stops; the sink refuses it (close 1003). */
  onText(): void;
  /** A ping's payload (a copy), to be answered with a pong. */
  onPing(payload: Uint8Array): void;
  /** A valid close frame: its code (undefined when it had none) and reason. The reader stops. */
  onCloseFrame(code: number | undefined, reason: string): void;
}

function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

const fail = (code: number, reason: string): WsProtocolError => ({ code, reason });

/**
 * One connection's frame parser, for frames written by `peer`. Feed it the socket's chunks in order with
 * `push`; it calls the sink for each message and control frame, and returns
 * a protocol error (after which it reads nothing more) when the peer broke
 * the protocol.
 */
export class WsFrameReader {
  /** The partial header of a frame split across chunks (at most 14 bytes). */
  private readonly head = new Uint8Array(14);
  private headLen = 0;
  /** The frame whose payload is being read (valid while `reading` is true). */
  private reading = false;
  private fin = false;
  private opcode = 0;
  private m0 = 0;
  private m1 = 0;
  private m2 = 0;
  private m3 = 0;
  private payloadLength = 0;
  /** The payload of a frame split across chunks, and how much of it has arrived. */
  private body: Buffer | undefined;
  private bodyLen = 0;
  /** The fragments of a message not yet finished, their bytes and count. */
  private fragments: Uint8Array[] = [];
  private fragmentBytes = 0;
  private fragmentCount = 0;
  private inMessage = false;
  private stopped = false;

  constructor(
    private readonly sink: WsFrameSink,
    /** Largest message, in bytes (the gateway's frame limit). */
    private readonly maxPayload: number,
    /** Most fragments per message (default MAX_FRAGMENTS). */
    private readonly maxFragments: number = MAX_FRAGMENTS,
    /** Who writes the frames read (default 'client', the gateway's side): decides whether they must be masked. */
    peer: WsPeer = 'client',
  ) {
    this.masked = peer === 'client';
  }

  /** True when every frame read must be masked (a client's), false when none may be (a server's). */
  private readonly masked: boolean;

  /** True once a close frame, a text message or a protocol error ended reading. */
  get done(): boolean {
    return this.stopped;
  }

  /** Parses `chunk` (unmasking it in place); a protocol error when the peer broke RFC 6455. */
  push(chunk: Uint8Array): WsProtocolError | undefined {
    const n = chunk.length;
    let o = 0;
    // The chunk as 32-bit words, for unmasking its payloads: made once per chunk, at its first masked payload.
    let words: Uint32Array | undefined;
    while (o < n && !this.stopped) {
      if (!this.reading) {
        if (this.headLen === 0 && n - o >= 2) {
          const size = headerSize(chunk[o + 1]!);
          if (n - o >= size) {
            const err = this.header(chunk, o);
            if (err) return this.stop(err);
            o += size;
            if (this.payloadLength === 0) {
              const e = this.frame(chunk.subarray(o, o));
              if (e) return this.stop(e);
            }
            continue;
          }
        }
        // A header split across chunks: gather it byte by byte (at most 14).
        this.head[this.headLen++] = chunk[o++]!;
        if (this.headLen >= 2 && this.headLen === headerSize(this.head[1]!)) {
          this.headLen = 0;
          const err = this.header(this.head, 0);
          if (err) return this.stop(err);
          if (this.payloadLength === 0) {
            const e = this.frame(this.head.subarray(0, 0));
            if (e) return this.stop(e);
          }
        }
        continue;
      }
      const need = this.payloadLength - this.bodyLen;
      if (this.body === undefined && n - o >= need) {
        // The whole payload is in this chunk: unmask it where it lies.
        if (this.masked) maskInPlace(chunk, (words ??= wordView(chunk)), o, need, this.m0, this.m1, this.m2, this.m3);
        const view = chunk.subarray(o, o + need);
        o += need;
        const e = this.frame(view);
        if (e) return this.stop(e);
        continue;
      }
      this.body ??= Buffer.allocUnsafe(this.payloadLength);
      const take = Math.min(need, n - o);
      this.body.set(chunk.subarray(o, o + take), this.bodyLen);
      this.bodyLen += take;
      o += take;
      if (this.bodyLen === this.payloadLength) {
        const body = this.body;
        this.body = undefined;
        this.bodyLen = 0;
        if (this.masked) maskInPlace(body, wordView(body), 0, body.length, this.m0, this.m1, this.m2, this.m3);
        const e = this.frame(body);
        if (e) return this.stop(e);
      }
    }
    return undefined;
  }

  private stop(err: WsProtocolError): WsProtocolError {
    this.stopped = true;
    this.fragments = [];
    this.body = undefined;
    return err;
  }

  /** Parses and checks a complete header at `buf[at]`; sets the frame being read. */
  private header(buf: Uint8Array, at: number): WsProtocolError | undefined {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    if ((b0 & 0x70) !== 0) return fail(CloseCode.PROTOCOL_ERROR, 'reserved bits set without a negotiated extension');
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    if (opcode >= 0x8) {
      if (opcode > 0xa) return fail(CloseCode.PROTOCOL_ERROR, `unknown control opcode ${opcode}`);
      if (!fin) return fail(CloseCode.PROTOCOL_ERROR, 'fragmented control frame');
      if (length > MAX_CONTROL_PAYLOAD) return fail(CloseCode.PROTOCOL_ERROR, `control frame payload of more than ${MAX_CONTROL_PAYLOAD} bytes`);
    } else if (opcode === 0x0) {
      if (!this.inMessage) return fail(CloseCode.PROTOCOL_ERROR, 'continuation frame without a message to continue');
    } else if (opcode <= 0x2) {
      if (this.inMessage) return fail(CloseCode.PROTOCOL_ERROR, 'new message before the final fragment of the last one');
    } else {
      return fail(CloseCode.PROTOCOL_ERROR, `unknown data opcode ${opcode}`);
    }
    if ((b1 & 0x80) === 0) {
      if (this.masked) return fail(CloseCode.PROTOCOL_ERROR, 'unmasked frame from a client');
    } else if (!this.masked) return fail(CloseCode.PROTOCOL_ERROR, 'masked frame from a server');
    let p = at + 2;
    if (length === 126) {
      length = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const high = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      const low = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
      if (high !== 0) return fail(CloseCode.MESSAGE_TOO_BIG, `message over the ${this.maxPayload}-byte limit`);
      length = low;
      p += 8;
    }
    if (opcode < 0x8) {
      if (this.fragmentBytes + length > this.maxPayload) return fail(CloseCode.MESSAGE_TOO_BIG, `message over the ${this.maxPayload}-byte limit`);
      if ((!fin || opcode === 0x0) && ++this.fragmentCount > this.maxFragments) return fail(CloseCode.POLICY_VIOLATION, `message in more than ${this.maxFragments} fragments`);
      if (opcode === 0x1) {
        this.sink.onText();
        this.stopped = true;
        return undefined;
      }
    }
    this.fin = fin;
    this.opcode = opcode;
    if (this.masked) {
      this.m0 = buf[p]!;
      this.m1 = buf[p + 1]!;
      this.m2 = buf[p + 2]!;
      this.m3 = buf[p + 3]!;
    }
    this.payloadLength = length;
    this.reading = true;
    return undefined;
  }

  /** A frame's unmasked payload arrived. */
  private frame(payload: Uint8Array): WsProtocolError | undefined {
    this.reading = false;
    const opcode = this.opcode;
    if (opcode === 0x2 && this.fin) {
      this.sink.onMessage(payload);
      return undefined;
    }
    if (opcode < 0x8) {
      this.fragments.push(payload);
      this.fragmentBytes += payload.length;
      this.inMessage = true;
      if (!this.fin) return undefined;
      const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments, this.fragmentBytes);
      this.fragments = [];
      this.fragmentBytes = 0;
      this.fragmentCount = 0;
      this.inMessage = false;
      this.sink.onMessage(message);
      return undefined;
    }
    if (opcode === 0x9) this.sink.onPing(Uint8Array.prototype.slice.call(payload));
    else if (opcode === 0x8) return this.close(payload);
    return undefined; // a pong: nothing to do
  }

  private close(payload: Uint8Array): WsProtocolError | undefined {
    if (payload.length === 1) return fail(CloseCode.PROTOCOL_ERROR, 'close frame with a 1-byte payload');
    let code: number | undefined;
    let reason = '';
    if (payload.length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      if (!isValidCloseCode(code)) return fail(CloseCode.PROTOCOL_ERROR, `invalid close code ${code}`);
      const text = payload.subarray(2);
      if (!isUtf8(text)) return fail(CloseCode.INVALID_PAYLOAD, 'close reason is not valid UTF-8');
      reason = Buffer.from(text.buffer, text.byteOffset, text.length).toString('utf8');
    }
    this.stopped = true;
    this.sink.onCloseFrame(code, reason);
    return undefined;
  }
}

/** Bytes of a frame's header, from its second byte (masked frames carry a 4-byte key). */
function headerSize(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
