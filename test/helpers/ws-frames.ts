/**
 * WebSocket frames built byte for byte (RFC 6455 section 5.2) for tests that
 * play a raw peer: a client writing masked frames to the gateway, or a server
 * writing unmasked ones to the Node client, including frames no `ws` peer
 * would send (reserved bits, masks the wrong way round).
 */
import { randomBytes } from 'node:crypto';

/** Options of one frame; defaults: final, masked with a fresh random key, no reserved bits. */
export interface WsFrameOptions {
  fin?: boolean;
  masked?: boolean;
  rsv?: number;
  /** A fixed masking key (for byte-exact expectations). */
  key?: readonly [number, number, number, number];
  /** Force a 64-bit length field with this high word (lengths no real peer may send). */
  high?: number;
}

/** One frame as a peer writes it. */
export function wsFrame(opcode: number, payload: Uint8Array, { fin = true, masked = true, rsv = 0, key, high }: WsFrameOptions = {}): Buffer {
  const n = payload.length;
  const ext = high !== undefined || n >= 65536 ? 8 : n >= 126 ? 2 : 0;
  const out = Buffer.alloc(2 + ext + (masked ? 4 : 0) + n);
  out[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  out[1] = (masked ? 0x80 : 0) | (ext === 8 ? 127 : ext === 2 ? 126 : n);
  if (ext === 2) out.writeUInt16BE(n, 2);
  if (ext === 8) {
    out.writeUInt32BE(high ?? 0, 2);
    out.writeUInt32BE(n, 6);
  }
  const mask = key ?? randomBytes(4);
  let o = 2 + ext;
  if (masked) {
    for (let i = 0; i < 4; i++) out[o + i] = mask[i]!;
    o += 4;
  }
  for (let i = 0; i < n; i++) out[o + i] = masked ? payload[i]! ^ mask[i & 3]! : payload[i]!;
  return out;
}
