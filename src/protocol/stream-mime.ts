/**
 * Per-stream data MIME types (the RSocket "Stream Data MIME Types" metadata
 * extension, `message/x.rsocket.mime-type.v0`): a request may say its data
 * is in another format than the connection's SETUP declared. The gateway
 * forwards data untouched whatever its format, and makes the format explicit
 * for the responder: a requester whose SETUP declared something other than
 * JSON has that type added as this entry when its request carries none.
 * Isomorphic.
 *
 * Content: one byte; with the high bit set, the low 7 bits are a well-known
 * MIME id (the composite metadata table); otherwise they are the length of
 * the US-ASCII MIME type that follows, minus one.
 */
import { MetadataError, MimeTypes, wellKnownMimeId, wellKnownMimeName, type MetadataEntry } from './metadata.js';

export const STREAM_MIME_TYPE = 'message/x.rsocket.mime-type.v0';

const encoder = new TextEncoder();
/** A MIME type as RSocket carries it: printable US-ASCII, `type/subtype`, 1..128 bytes. */
const MIME = /^[\x21-\x7e]+\/[\x20-\x7e]+$/;

/** True when `mimeType` can travel in SETUP and in a per-stream entry. */
export function isMimeType(mimeType: string): boolean {
  return mimeType.length <= 128 && MIME.test(mimeType);
}

export function encodeStreamMime(mimeType: string): Uint8Array {
  const id = wellKnownMimeId(mimeType);
  if (id !== undefined) return Uint8Array.of(0x80 | id);
  if (!isMimeType(mimeType)) throw new MetadataError(`mime type ${JSON.stringify(mimeType)} must be printable US-ASCII type/subtype of 1..128 bytes`);
  const bytes = encoder.encode(mimeType);
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length - 1;
  out.set(bytes, 1);
  return out;
}

/** Decodes the entry's content. Throws MetadataError when malformed. */
export function decodeStreamMime(content: Uint8Array): string {
  if (content.length === 0) throw new MetadataError(`${STREAM_MIME_TYPE}: empty`);
  const head = content[0]!;
  if (head & 0x80) {
    if (content.length !== 1) throw new MetadataError(`${STREAM_MIME_TYPE}: a well-known id is one byte, got ${content.length}`);
    const name = wellKnownMimeName(head & 0x7f);
    if (!name) throw new MetadataError(`${STREAM_MIME_TYPE}: unknown well-known id 0x${(head & 0x7f).toString(16)}`);
    return name;
  }
  const len = head + 1;
  if (content.length !== 1 + len) throw new MetadataError(`${STREAM_MIME_TYPE}: length ${len} does not match the ${content.length - 1} bytes that follow`);
  const mimeType = String.fromCharCode(...content.subarray(1));
  if (!isMimeType(mimeType)) throw new MetadataError(`${STREAM_MIME_TYPE}: ${JSON.stringify(mimeType)} is not a printable US-ASCII type/subtype`);
  return mimeType;
}

export function streamMimeEntry(mimeType: string): MetadataEntry {
  return { mimeType: STREAM_MIME_TYPE, content: encodeStreamMime(mimeType) };
}

/** The request's data MIME type: its per-stream entry, else `fallback`. Throws MetadataError when the entry is malformed. */
export function readStreamMime(entries: readonly MetadataEntry[], fallback: string = MimeTypes.JSON): string {
  const entry = entries.find((e) => e.mimeType === STREAM_MIME_TYPE);
  return entry ? decodeStreamMime(entry.content) : fallback;
}

/** Whether data of this MIME type is JSON (`application/json`, with or without parameters, or a `+json` type). */
export function isJsonMime(mimeType: string): boolean {
  const base = mimeType.split(';', 1)[0]!.trim().toLowerCase();
  return base === MimeTypes.JSON || base.endsWith('+json');
}
