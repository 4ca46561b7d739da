/**
 * RSocket 1.0 frame model (https://rsocket.io/about/protocol). Isomorphic:
 * payload bytes are plain `Uint8Array`s so browsers need no Buffer polyfill.
 */

export const FrameType = {
  SETUP: 0x01,
  LEASE: 0x02,
  KEEPALIVE: 0x03,
  REQUEST_RESPONSE: 0x04,
  REQUEST_FNF: 0x05,
  REQUEST_STREAM: 0x06,
  REQUEST_CHANNEL: 0x07,
  REQUEST_N: 0x08,
  CANCEL: 0x09,
  PAYLOAD: 0x0a,
  ERROR: 0x0b,
  METADATA_PUSH: 0x0c,
  RESUME: 0x0d,
  RESUME_OK: 0x0e,
  EXT: 0x3f,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flag bits in the 10 low bits of the type-and-flags field. */
export const Flags = {
  NONE: 0,
  IGNORE: 0x200,
  METADATA: 0x100,
  FOLLOWS: 0x80,
  COMPLETE: 0x40,
  NEXT: 0x20,
  /** KEEPALIVE: the receiver must answer. */
  RESPOND: 0x80,
  /** SETUP: the client asks for resumption. */
  RESUME_ENABLE: 0x80,
  /** SETUP: the client asks for leasing. */
  LEASE: 0x40,
} as const;

/** Request N values are 31-bit; this one means "unbounded". */
export const MAX_REQUEST_N = 0x7fffffff;
/** Stream ids are 31-bit. */
export const MAX_STREAM_ID = 0x7fffffff;
/** Metadata and frame lengths are 24-bit where they are length-prefixed. */
export const MAX_U24 = 0xffffff;
export const FRAME_HEADER_SIZE = 6;

export interface Payload {
  readonly data: Uint8Array | null;
  readonly metadata: Uint8Array | null;
}

interface FrameBase {
  readonly streamId: number;
  readonly flags: number;
}

export interface SetupFrame extends FrameBase {
  readonly type: typeof FrameType.SETUP;
  readonly majorVersion: number;
  readonly minorVersion: number;
  /** Milliseconds between the client's KEEPALIVE frames. */
  readonly keepAlive: number;
  /** Milliseconds without any frame after which the peer is considered dead. */
  readonly lifetime: number;
  readonly resumeToken: Uint8Array | null;
  readonly metadataMimeType: string;
  readonly dataMimeType: string;
  readonly data: Uint8Array | null;
  readonly metadata: Uint8Array | null;
}

export interface LeaseFrame extends FrameBase {
  readonly type: typeof FrameType.LEASE;
  readonly ttl: number;
  readonly requestCount: number;
  readonly metadata: Uint8Array | null;
}

export interface KeepAliveFrame extends FrameBase {
  readonly type: typeof FrameType.KEEPALIVE;
  readonly lastReceivedPosition: number;
  readonly data: Uint8Array | null;
}

export interface RequestResponseFrame extends FrameBase, Payload {
  readonly type: typeof FrameType.REQUEST_RESPONSE;
}

export interface RequestFnfFrame extends FrameBase, Payload {
  readonly type: typeof FrameType.REQUEST_FNF;
}

export interface RequestStreamFrame extends FrameBase, Payload {
  readonly type: typeof FrameType.REQUEST_STREAM;
  readonly requestN: number;
}

export interface RequestChannelFrame extends FrameBase, Payload {
  readonly type: typeof FrameType.REQUEST_CHANNEL;
  readonly requestN: number;
}

export interface RequestNFrame extends FrameBase {
  readonly type: typeof FrameType.REQUEST_N;
  readonly requestN: number;
}

export interface CancelFrame extends FrameBase {
  readonly type: typeof FrameType.CANCEL;
}

export interface PayloadFrame extends FrameBase, Payload {
  readonly type: typeof FrameType.PAYLOAD;
}

export interface ErrorFrame extends FrameBase {
  readonly type: typeof FrameType.ERROR;
  readonly code: number;
  readonly message: string;
}

export interface MetadataPushFrame extends FrameBase {
  readonly type: typeof FrameType.METADATA_PUSH;
  readonly metadata: Uint8Array;
}

export interface ResumeFrame extends FrameBase {
  readonly type: typeof FrameType.RESUME;
  readonly majorVersion: number;
  readonly minorVersion: number;
  readonly resumeToken: Uint8Array;
  readonly serverPosition: number;
  readonly clientPosition: number;
}

export interface ResumeOkFrame extends FrameBase {
  readonly type: typeof FrameType.RESUME_OK;
  readonly clientPosition: number;
}

export interface ExtFrame extends FrameBase {
  readonly type: typeof FrameType.EXT;
  readonly extendedType: number;
  readonly data: Uint8Array | null;
  readonly metadata: Uint8Array | null;
}

export type RequestFrame = RequestResponseFrame | RequestFnfFrame | RequestStreamFrame | RequestChannelFrame;

export type Frame =
  | SetupFrame
  | LeaseFrame
  | KeepAliveFrame
  | RequestResponseFrame
  | RequestFnfFrame
  | RequestStreamFrame
  | RequestChannelFrame
  | RequestNFrame
  | CancelFrame
  | PayloadFrame
  | ErrorFrame
  | MetadataPushFrame
  | ResumeFrame
  | ResumeOkFrame
  | ExtFrame;

export function hasFlag(flags: number, flag: number): boolean {
  return (flags & flag) === flag;
}

export function frameTypeName(type: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === type) return name;
  return `0x${type.toString(16)}`;
}
