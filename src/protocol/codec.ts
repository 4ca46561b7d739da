/**
 * Strict RSocket 1.0 frame codec. Decoding validates every length and field
 * the spec constrains and throws {@link FrameDecodeError} naming the problem,
 * so garbage never reaches the stream layer. Decoded payloads are views into
 * the input buffer (no copy). Isomorphic.
 */
import {
  FRAME_HEADER_SIZE,
  Flags,
  FrameType,
  MAX_REQUEST_N,
  MAX_U24,
  hasFlag,
  type Frame,
  type Payload,
} from './frames.js';

export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError';
  /** The stream the bad frame named, when its header could be read. */
  readonly streamId: number | undefined;
  /** An unknown frame type with the IGNORE flag: the spec says to skip it. */
  readonly ignorable: boolean;
  constructor(message: string, streamId?: number, ignorable = false) {
    super(message);
    this.streamId = streamId;
    this.ignorable = ignorable;
  }
}

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

class Reader {
  private pos = FRAME_HEADER_SIZE;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly streamId: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.length - this.pos;
  }
  private need(n: number, what: string): void {
    if (this.remaining < n) {
      throw new FrameDecodeError(`truncated frame: ${what} needs ${n} bytes, ${this.remaining} left`, this.streamId);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u24(what: string): number {
    this.need(3, what);
    const v = (this.view.getUint8(this.pos) << 16) | this.view.getUint16(this.pos + 1);
    this.pos += 3;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  /** A 63-bit position; values beyond 2^53 are not meaningful to Sluice and are refused. */
  u63(what: string): number {
    const hi = this.u32(what);
    const lo = this.u32(what);
    if (hi > 0x1fffff) throw new FrameDecodeError(`${what} out of range`, this.streamId);
    return hi * 0x100000000 + lo;
  }
  positive31(what: string): number {
    const v = this.u32(what);
    if (v === 0 || v > MAX_REQUEST_N) throw new FrameDecodeError(`${what} must be 1..${MAX_REQUEST_N}, got ${v}`, this.streamId);
    return v;
  }
  bytesOf(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  ascii(n: number, what: string): string {
    const raw = this.bytesOf(n, what);
    let s = '';
    for (const b of raw) {
      if (b < 0x20 || b > 0x7e) throw new FrameDecodeError(`${what} is not printable US-ASCII`, this.streamId);
      s += String.fromCharCode(b);
    }
    return s;
  }
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }
  /** Metadata (24-bit length prefixed when the M flag is set) then data (the rest). */
  payload(flags: number): Payload {
    const metadata = hasFlag(flags, Flags.METADATA) ? this.bytesOf(this.u24('metadata length'), 'metadata') : null;
    return { metadata, data: this.rest() };
  }
}

function requireStream(streamId: number, zero: boolean, type: string): void {
  if (zero && streamId !== 0) throw new FrameDecodeError(`${type} must be on stream 0, got stream ${streamId}`, streamId);
  if (!zero && streamId === 0) throw new FrameDecodeError(`${type} must not be on stream 0`, 0);
}

/** Decodes one complete frame (no length prefix). Throws FrameDecodeError. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < FRAME_HEADER_SIZE) {
    throw new FrameDecodeError(`frame of ${bytes.length} bytes is shorter than the ${FRAME_HEADER_SIZE}-byte header`);
  }
  if (bytes[0]! & 0x80) throw new FrameDecodeError('stream id has its reserved high bit set');
  const streamId = readU32(bytes, 0);
  const typeAndFlags = (bytes[4]! << 8) | bytes[5]!;
  const type = typeAndFlags >>> 10;
  const flags = typeAndFlags & 0x3ff;
  const r = new Reader(bytes, streamId);

  switch (type) {
    case FrameType.SETUP: {
      requireStream(streamId, true, 'SETUP');
      const majorVersion = r.u16('major version');
      const minorVersion = r.u16('minor version');
      const keepAlive = r.positive31('keepalive interval');
      const lifetime = r.positive31('max lifetime');
      const resumeToken = hasFlag(flags, Flags.RESUME_ENABLE) ? r.bytesOf(r.u16('resume token length'), 'resume token') : null;
      const metadataMimeType = r.ascii(r.u8('metadata mime length'), 'metadata mime type');
      const dataMimeType = r.ascii(r.u8('data mime length'), 'data mime type');
      const { metadata, data } = r.payload(flags);
      return { type, streamId, flags, majorVersion, minorVersion, keepAlive, lifetime, resumeToken, metadataMimeType, dataMimeType, metadata, data };
    }
    case FrameType.LEASE: {
      requireStream(streamId, true, 'LEASE');
      const ttl = r.u32('lease ttl');
      const requestCount = r.u32('lease request count');
      const metadata = hasFlag(flags, Flags.METADATA) ? r.rest() : null;
      return { type, streamId, flags, ttl, requestCount, metadata };
    }
    case FrameType.KEEPALIVE: {
      requireStream(streamId, true, 'KEEPALIVE');
      const lastReceivedPosition = r.u63('last received position');
      return { type, streamId, flags, lastReceivedPosition, data: r.rest() };
    }
    case FrameType.REQUEST_RESPONSE:
    case FrameType.REQUEST_FNF: {
      requireStream(streamId, false, type === FrameType.REQUEST_FNF ? 'REQUEST_FNF' : 'REQUEST_RESPONSE');
      return { type, streamId, flags, ...r.payload(flags) };
    }
    case FrameType.REQUEST_STREAM:
    case FrameType.REQUEST_CHANNEL: {
      requireStream(streamId, false, type === FrameType.REQUEST_STREAM ? 'REQUEST_STREAM' : 'REQUEST_CHANNEL');
      const requestN = r.positive31('initial request n');
      return { type, streamId, flags, requestN, ...r.payload(flags) };
    }
    case FrameType.REQUEST_N: {
      requireStream(streamId, false, 'REQUEST_N');
      return { type, streamId, flags, requestN: r.positive31('request n') };
    }
    case FrameType.CANCEL:
      requireStream(streamId, false, 'CANCEL');
      return { type, streamId, flags };
    case FrameType.PAYLOAD: {
      requireStream(streamId, false, 'PAYLOAD');
      if ((flags & (Flags.NEXT | Flags.COMPLETE | Flags.FOLLOWS)) === 0) {
        throw new FrameDecodeError('PAYLOAD frame has neither NEXT, COMPLETE nor FOLLOWS', streamId);
      }
      return { type, streamId, flags, ...r.payload(flags) };
    }
    case FrameType.ERROR: {
      const code = r.u32('error code');
      return { type, streamId, flags, code, message: utf8Decoder.decode(r.rest()) };
    }
    case FrameType.METADATA_PUSH:
      requireStream(streamId, true, 'METADATA_PUSH');
      if (!hasFlag(flags, Flags.METADATA)) throw new FrameDecodeError('METADATA_PUSH without the METADATA flag', streamId);
      return { type, streamId, flags, metadata: r.rest() };
    case FrameType.RESUME: {
      requireStream(streamId, true, 'RESUME');
      const majorVersion = r.u16('major version');
      const minorVersion = r.u16('minor version');
      const resumeToken = r.bytesOf(r.u16('resume token length'), 'resume token');
      const serverPosition = r.u63('last received server position');
      const clientPosition = r.u63('first available client position');
      return { type, streamId, flags, majorVersion, minorVersion, resumeToken, serverPosition, clientPosition };
    }
    case FrameType.RESUME_OK:
      requireStream(streamId, true, 'RESUME_OK');
      return { type, streamId, flags, clientPosition: r.u63('last received client position') };
    case FrameType.EXT: {
      const extendedType = r.u32('extended type');
      return { type, streamId, flags, extendedType, ...r.payload(flags) };
    }
    default:
      throw new FrameDecodeError(`unknown frame type 0x${type.toString(16)}`, streamId, hasFlag(flags, Flags.IGNORE));
  }
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

// ---------------------------------------------------------------- encoding

/**
 * Where frame buffers come from. Plain Uint8Arrays by default (browsers);
 * Node transports install Buffer.allocUnsafe, whose pool makes the many small
 * frames of a stream cheap to allocate.
 */
let allocate: (size: number) => Uint8Array = (size) => new Uint8Array(size);

export function setFrameAllocator(fn: (size: number) => Uint8Array): void {
  allocate = fn;
}

function writeU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 24;
  out[o + 1] = (v >>> 16) & 0xff;
  out[o + 2] = (v >>> 8) & 0xff;
  out[o + 3] = v & 0xff;
}

function writeHeader(out: Uint8Array, streamId: number, type: number, flags: number): void {
  writeU32(out, 0, streamId);
  const tf = (type << 10) | (flags & 0x3ff);
  out[4] = tf >>> 8;
  out[5] = tf & 0xff;
}

function payloadSize(p: Payload): number {
  return (p.metadata ? 3 + p.metadata.length : 0) + (p.data ? p.data.length : 0);
}

function checkMetadata(p: Payload): void {
  if (p.metadata && p.metadata.length > MAX_U24) throw new RangeError(`metadata of ${p.metadata.length} bytes exceeds 24-bit length`);
}

function header(view: DataView, streamId: number, type: number, flags: number): void {
  view.setUint32(0, streamId);
  view.setUint16(4, (type << 10) | (flags & 0x3ff));
}

function writePayload(out: Uint8Array, offset: number, p: Payload): void {
  if (p.metadata) {
    const n = p.metadata.length;
    out[offset] = n >>> 16;
    out[offset + 1] = (n >>> 8) & 0xff;
    out[offset + 2] = n & 0xff;
    out.set(p.metadata, offset + 3);
    offset += 3 + n;
  }
  if (p.data) out.set(p.data, offset);
}

function alloc(size: number): { out: Uint8Array; view: DataView } {
  const out = allocate(size);
  return { out, view: new DataView(out.buffer, out.byteOffset, out.byteLength) };
}

/** REQUEST_*, PAYLOAD and EXT-like frames: header, optional request n, payload. */
export function encodePayloadFrame(
  type: number,
  streamId: number,
  flags: number,
  payload: Payload,
  requestN?: number,
): Uint8Array {
  checkMetadata(payload);
  const extra = requestN === undefined ? 0 : 4;
  const f = payload.metadata ? flags | Flags.METADATA : flags & ~Flags.METADATA;
  const out = allocate(FRAME_HEADER_SIZE + extra + payloadSize(payload));
  writeHeader(out, streamId, type, f);
  if (requestN !== undefined) writeU32(out, FRAME_HEADER_SIZE, requestN);
  writePayload(out, FRAME_HEADER_SIZE + extra, payload);
  return out;
}

export function encodeRequestN(streamId: number, n: number): Uint8Array {
  const out = allocate(10);
  writeHeader(out, streamId, FrameType.REQUEST_N, 0);
  writeU32(out, 6, n);
  return out;
}

export function encodeCancel(streamId: number): Uint8Array {
  const out = allocate(6);
  writeHeader(out, streamId, FrameType.CANCEL, 0);
  return out;
}

export function encodeError(streamId: number, code: number, message: string): Uint8Array {
  const text = utf8Encoder.encode(message);
  const { out, view } = alloc(10 + text.length);
  header(view, streamId, FrameType.ERROR, 0);
  view.setUint32(6, code);
  out.set(text, 10);
  return out;
}

export function encodeKeepAlive(respond: boolean, position: number, data: Uint8Array | null = null): Uint8Array {
  const body = data ?? EMPTY;
  const { out, view } = alloc(14 + body.length);
  header(view, 0, FrameType.KEEPALIVE, respond ? Flags.RESPOND : 0);
  view.setUint32(6, Math.floor(position / 0x100000000));
  view.setUint32(10, position >>> 0);
  out.set(body, 14);
  return out;
}

export function encodeMetadataPush(metadata: Uint8Array): Uint8Array {
  const { out, view } = alloc(6 + metadata.length);
  header(view, 0, FrameType.METADATA_PUSH, Flags.METADATA);
  out.set(metadata, 6);
  return out;
}

export interface SetupOptions {
  readonly keepAlive: number;
  readonly lifetime: number;
  readonly metadataMimeType: string;
  readonly dataMimeType: string;
  readonly metadata?: Uint8Array | null;
  readonly data?: Uint8Array | null;
  readonly majorVersion?: number;
  readonly minorVersion?: number;
  readonly flags?: number;
  readonly resumeToken?: Uint8Array | null;
}

/** MIME types in SETUP are printable US-ASCII (the decoder refuses anything else). */
function mimeBytes(mime: string): Uint8Array {
  if (!/^[\x20-\x7e]*$/.test(mime)) throw new RangeError(`mime type '${mime}' is not printable US-ASCII`);
  return utf8Encoder.encode(mime);
}

export function encodeSetup(s: SetupOptions): Uint8Array {
  const p: Payload = { metadata: s.metadata ?? null, data: s.data ?? null };
  checkMetadata(p);
  const mm = mimeBytes(s.metadataMimeType);
  const dm = mimeBytes(s.dataMimeType);
  if (mm.length > 255 || dm.length > 255) throw new RangeError('mime type longer than 255 bytes');
  const token = s.resumeToken ?? null;
  let flags = (s.flags ?? 0) | (p.metadata ? Flags.METADATA : 0);
  if (token) flags |= Flags.RESUME_ENABLE;
  const size = FRAME_HEADER_SIZE + 12 + (token ? 2 + token.length : 0) + 2 + mm.length + dm.length + payloadSize(p);
  const { out, view } = alloc(size);
  header(view, 0, FrameType.SETUP, flags);
  let o = FRAME_HEADER_SIZE;
  view.setUint16(o, s.majorVersion ?? 1);
  view.setUint16(o + 2, s.minorVersion ?? 0);
  view.setUint32(o + 4, s.keepAlive);
  view.setUint32(o + 8, s.lifetime);
  o += 12;
  if (token) {
    view.setUint16(o, token.length);
    out.set(token, o + 2);
    o += 2 + token.length;
  }
  view.setUint8(o, mm.length);
  out.set(mm, o + 1);
  o += 1 + mm.length;
  view.setUint8(o, dm.length);
  out.set(dm, o + 1);
  o += 1 + dm.length;
  writePayload(out, o, p);
  return out;
}

/** Overwrites the stream id of an encoded frame in place (zero-copy forwarding). */
export function rewriteStreamId(frame: Uint8Array, streamId: number): Uint8Array {
  frame[0] = (streamId >>> 24) & 0x7f;
  frame[1] = (streamId >>> 16) & 0xff;
  frame[2] = (streamId >>> 8) & 0xff;
  frame[3] = streamId & 0xff;
  return frame;
}
