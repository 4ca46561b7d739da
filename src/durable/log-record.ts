/**
 * The records of the embedded durable log, framed so that a torn tail (a
 * crash mid-write) is recognised and dropped on replay:
 *
 *   u32 body length | u32 CRC-32 of the body | body
 *   body: u8 type, f64 seq, then for PUT: f64 enqueuedAt, u16 key length
 *         (0xffff: none), key (UTF-8), u32 data length (0xffffffff: null),
 *         data, u32 metadata length (likewise), metadata; for DELIVER:
 *         u32 deliveries
 *
 * PUT stores a command; DELIVER records how many times it has been
 * delivered (written before the delivery, so a restart resumes the count
 * and `maxDeliveries` holds across crashes); DONE marks it acked or
 * dead-lettered.
 */
import type { Payload } from '../protocol/frames.js';

export const RecordType = { PUT: 1, DONE: 2, DELIVER: 3 } as const;

export type LogRecord =
  | { type: typeof RecordType.PUT; seq: number; enqueuedAt: number; key: string | undefined; payload: Payload }
  | { type: typeof RecordType.DONE; seq: number }
  | { type: typeof RecordType.DELIVER; seq: number; deliveries: number };

const NONE16 = 0xffff;
const NONE32 = 0xffffffff;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), as zlib computes it (zlib.crc32 is missing from older Node 20 releases). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeRecord(r: LogRecord): Buffer {
  let bodyLen = 1 + 8;
  let key: Buffer | undefined;
  if (r.type === RecordType.DELIVER) bodyLen += 4;
  if (r.type === RecordType.PUT) {
    key = r.key === undefined ? undefined : Buffer.from(r.key, 'utf8');
    bodyLen += 8 + 2 + (key?.length ?? 0) + 4 + (r.payload.data?.length ?? 0) + 4 + (r.payload.metadata?.length ?? 0);
  }
  const buf = Buffer.allocUnsafe(8 + bodyLen);
  buf.writeUInt32BE(bodyLen, 0);
  let o = 8;
  buf[o++] = r.type;
  buf.writeDoubleBE(r.seq, o);
  o += 8;
  if (r.type === RecordType.DELIVER) buf.writeUInt32BE(r.deliveries, o);
  if (r.type === RecordType.PUT) {
    buf.writeDoubleBE(r.enqueuedAt, o);
    o += 8;
    buf.writeUInt16BE(key ? key.length : NONE16, o);
    o += 2;
    if (key) o += key.copy(buf, o);
    for (const part of [r.payload.data, r.payload.metadata]) {
      buf.writeUInt32BE(part ? part.length : NONE32, o);
      o += 4;
      if (part) {
        buf.set(part, o);
        o += part.length;
      }
    }
  }
  buf.writeUInt32BE(crc32(buf.subarray(8)), 4);
  return buf;
}

/**
 * Decodes the records of one segment file. Stops at the first record that is
 * incomplete or fails its checksum and reports where the whole records end,
 * so the caller can cut the torn tail off.
 */
export function decodeRecords(file: Uint8Array): { records: LogRecord[]; validBytes: number } {
  const view = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const records: LogRecord[] = [];
  let o = 0;
  while (o + 8 <= view.length) {
    const len = view.readUInt32BE(o);
    if (len < 9 || o + 8 + len > view.length) break;
    const body = view.subarray(o + 8, o + 8 + len);
    if (crc32(body) !== view.readUInt32BE(o + 4)) break;
    const r = decodeBody(body);
    if (!r) break;
    records.push(r);
    o += 8 + len;
  }
  return { records, validBytes: o };
}

function decodeBody(b: Buffer): LogRecord | undefined {
  const type = b[0];
  const seq = b.readDoubleBE(1);
  if (type === RecordType.DONE) return b.length === 9 ? { type, seq } : undefined;
  if (type === RecordType.DELIVER) return b.length === 13 ? { type, seq, deliveries: b.readUInt32BE(9) } : undefined;
  if (type !== RecordType.PUT || b.length < 27) return undefined;
  let o = 9;
  const enqueuedAt = b.readDoubleBE(o);
  o += 8;
  const keyLen = b.readUInt16BE(o);
  o += 2;
  let key: string | undefined;
  if (keyLen !== NONE16) {
    key = b.toString('utf8', o, o + keyLen);
    o += keyLen;
  }
  const parts: (Uint8Array | null)[] = [];
  for (let i = 0; i < 2; i++) {
    if (o + 4 > b.length) return undefined;
    const n = b.readUInt32BE(o);
    o += 4;
    if (n === NONE32) {
      parts.push(null);
      continue;
    }
    if (o + n > b.length) return undefined;
    parts.push(new Uint8Array(b.subarray(o, o + n)));
    o += n;
  }
  return o === b.length ? { type, seq, enqueuedAt, key, payload: { data: parts[0]!, metadata: parts[1]! } } : undefined;
}
