/**
 * The frames of a connection's usual traffic (a PAYLOAD in one piece,
 * REQUEST_N, CANCEL, a request in one piece) read straight from their bytes,
 * without a decoded frame object, a DataView or any view up front: a
 * forwarding gateway relays most PAYLOADs as the bytes they came in, so
 * building `{ type, streamId, flags, metadata, data }` and its subarrays per
 * frame only fed the garbage collector. Recognition is exact:
 * a frame is hot only when `decodeFrame` would accept it and decode the same
 * fields (a property test checks this on arbitrary bytes); anything else,
 * malformed frames included, goes to the strict decoder and gets its precise
 * error. Isomorphic.
 */
import { FRAME_HEADER_SIZE, Flags, FrameType, MAX_REQUEST_N, type Payload } from './frames.js';

// Module constants rather than property loads on the imported objects in the per-frame path.
const PAYLOAD = FrameType.PAYLOAD;
const REQUEST_N = FrameType.REQUEST_N;
const CANCEL = FrameType.CANCEL;
const REQUEST_RESPONSE = FrameType.REQUEST_RESPONSE;
const REQUEST_FNF = FrameType.REQUEST_FNF;
const REQUEST_STREAM = FrameType.REQUEST_STREAM;
const REQUEST_CHANNEL = FrameType.REQUEST_CHANNEL;
const NEXT_OR_COMPLETE = Flags.NEXT | Flags.COMPLETE;
const FOLLOWS = Flags.FOLLOWS;
const METADATA = Flags.METADATA;

/**
 * The frame's type when it is a well-formed hot frame on a stream (not 0):
 * PAYLOAD with NEXT or COMPLETE and without FOLLOWS, REQUEST_N with n in
 * 1..2^31-1, CANCEL, or a request (REQUEST_RESPONSE, REQUEST_FNF,
 * REQUEST_STREAM, REQUEST_CHANNEL; the last two with an initial n in
 * 1..2^31-1) without FOLLOWS. 0 for anything else (decode it with
 * `decodeFrame`).
 */
export function hotFrameType(bytes: Uint8Array): number {
  const length = bytes.length;
  if (length < FRAME_HEADER_SIZE) return 0;
  const b0 = bytes[0]!;
  // Reserved bit set, or stream 0: the strict decoder's business.
  if (b0 & 0x80 || (b0 | bytes[1]! | bytes[2]! | bytes[3]!) === 0) return 0;
  const typeAndFlags = (bytes[4]! << 8) | bytes[5]!;
  const type = typeAndFlags >>> 10;
  const flags = typeAndFlags & 0x3ff;
  switch (type) {
    case PAYLOAD:
      if ((flags & (NEXT_OR_COMPLETE)) === 0 || flags & FOLLOWS) return 0;
      return payloadFits(bytes, FRAME_HEADER_SIZE, flags) ? type : 0;
    case REQUEST_N:
      return length >= FRAME_HEADER_SIZE + 4 && validN(hotRequestN(bytes)) ? type : 0;
    case CANCEL:
      return type;
    case REQUEST_RESPONSE:
    case REQUEST_FNF:
      return flags & FOLLOWS || !payloadFits(bytes, FRAME_HEADER_SIZE, flags) ? 0 : type;
    case REQUEST_STREAM:
    case REQUEST_CHANNEL:
      if (flags & FOLLOWS || length < FRAME_HEADER_SIZE + 4 || !validN(hotRequestN(bytes))) return 0;
      return payloadFits(bytes, FRAME_HEADER_SIZE + 4, flags) ? type : 0;
    default:
      return 0;
  }
}

function validN(n: number): boolean {
  return n !== 0 && n <= MAX_REQUEST_N;
}

/** Whether the metadata length prefix at `start` (when the METADATA flag is set) is whole and within the frame. */
function payloadFits(bytes: Uint8Array, start: number, flags: number): boolean {
  if (!(flags & METADATA)) return true;
  if (bytes.length < start + 3) return false;
  return bytes.length - start - 3 >= ((bytes[start]! << 16) | (bytes[start + 1]! << 8) | bytes[start + 2]!);
}

/** Where the payload of a hot frame of `type` starts: after the initial request n of a stream or channel request. */
export function hotPayloadStart(type: number): number {
  return type === REQUEST_STREAM || type === REQUEST_CHANNEL ? FRAME_HEADER_SIZE + 4 : FRAME_HEADER_SIZE;
}

/** The stream id of a frame `hotFrameType` accepted. */
export function hotStreamId(bytes: Uint8Array): number {
  // The reserved bit is clear, so the shift cannot go negative.
  return (bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!;
}

/** The 10 flag bits of a frame's header. */
export function hotFlags(bytes: Uint8Array): number {
  return ((bytes[4]! << 8) | bytes[5]!) & 0x3ff;
}

/** The request n of a REQUEST_N frame, or the initial n of a stream or channel request, `hotFrameType` accepted (unsigned 32-bit read). */
export function hotRequestN(bytes: Uint8Array): number {
  return ((bytes[6]! << 24) >>> 0) + ((bytes[7]! << 16) | (bytes[8]! << 8) | bytes[9]!);
}

/** Metadata plus data bytes of a frame `hotFrameType` accepted whose payload starts at `start` (what the payload size limit counts). */
export function hotPayloadSize(bytes: Uint8Array, start = FRAME_HEADER_SIZE): number {
  return bytes.length - start - (hasMetadata(bytes) ? 3 : 0);
}

/** The METADATA flag (0x100) is the low bit of the header's fifth byte. */
function hasMetadata(frame: Uint8Array): boolean {
  return (frame[4]! & 0x01) !== 0;
}

function metadataLength(frame: Uint8Array, start: number): number {
  return (frame[start]! << 16) | (frame[start + 1]! << 8) | frame[start + 2]!;
}

/**
 * The payload of a frame `hotFrameType` accepted, as views made only when
 * read: a relay that forwards the frame's bytes never reads them.
 */
export class FramePayload implements Payload {
  private metadataView: Uint8Array | null | undefined;
  private dataView: Uint8Array | null | undefined;

  /** `start`: where the payload begins (`hotPayloadStart` of the frame's type). */
  constructor(
    private readonly frame: Uint8Array,
    private readonly start = FRAME_HEADER_SIZE,
  ) {}

  get metadata(): Uint8Array | null {
    if (this.metadataView === undefined) {
      const { frame, start } = this;
      this.metadataView = hasMetadata(frame) ? frame.subarray(start + 3, start + 3 + metadataLength(frame, start)) : null;
    }
    return this.metadataView;
  }

  get data(): Uint8Array | null {
    if (this.dataView === undefined) {
      const { frame, start } = this;
      this.dataView = frame.subarray(hasMetadata(frame) ? start + 3 + metadataLength(frame, start) : start);
    }
    return this.dataView;
  }
}
