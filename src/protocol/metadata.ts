/**
 * Composite metadata (message/x.rsocket.composite-metadata.v0) and routing
 * metadata (message/x.rsocket.routing.v0) per the RSocket extension specs.
 * Entries are kept as raw bytes so unknown ones pass through untouched.
 * Isomorphic.
 */

export const MimeTypes = {
  JSON: 'application/json',
  COMPOSITE: 'message/x.rsocket.composite-metadata.v0',
  ROUTING: 'message/x.rsocket.routing.v0',
  AUTHENTICATION: 'message/x.rsocket.authentication.v0',
  /** Sluice service registration carried in SETUP metadata (JSON, see docs/protocol.md). */
  REGISTRATION: 'application/x.sluice.registration+json',
  /** On an answer served from the gateway's response cache: `{"state":"hit"|"stale","ageMs":n,"error"?:code}` (JSON, see docs/protocol.md). */
  CACHE: 'application/x.sluice.cache+json',
} as const;

/** Well-known MIME ids of the composite metadata extension. */
const WELL_KNOWN: readonly string[] = (() => {
  const table: string[] = [];
  const list =
    'application/avro application/cbor application/graphql application/gzip application/javascript application/json ' +
    'application/octet-stream application/pdf application/vnd.apache.thrift.binary application/vnd.google.protobuf ' +
    'application/xml application/zip audio/aac audio/mp3 audio/mp4 audio/mpeg3 audio/mpeg audio/ogg audio/opus ' +
    'audio/vorbis image/bmp image/gif image/heic-sequence image/heic image/heif-sequence image/heif image/jpeg ' +
    'image/png image/tiff multipart/mixed text/css text/csv text/html text/plain text/xml video/H264 video/H265 ' +
    'video/VP8 application/x-hessian application/x-java-object application/cloudevents+json';
  list.split(' ').forEach((m, i) => (table[i] = m));
  table[0x7a] = 'message/x.rsocket.mime-type.v0';
  table[0x7b] = 'message/x.rsocket.accept-mime-types.v0';
  table[0x7c] = MimeTypes.AUTHENTICATION;
  table[0x7d] = 'message/x.rsocket.tracing-zipkin.v0';
  table[0x7e] = MimeTypes.ROUTING;
  table[0x7f] = MimeTypes.COMPOSITE;
  return table;
})();

const WELL_KNOWN_IDS = new Map<string, number>(WELL_KNOWN.flatMap((m, i) => (m ? [[m, i] as [string, number]] : [])));

export class MetadataError extends Error {
  override readonly name = 'MetadataError';
}

export interface MetadataEntry {
  readonly mimeType: string;
  readonly content: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes composite metadata. Throws MetadataError on any malformed entry. */
export function decodeComposite(bytes: Uint8Array): MetadataEntry[] {
  const entries: MetadataEntry[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const idOrLength = bytes[pos++]!;
    let mimeType: string;
    if (idOrLength & 0x80) {
      const id = idOrLength & 0x7f;
      const known = WELL_KNOWN[id];
      mimeType = known ?? unknownWellKnownName(id);
    } else {
      const len = idOrLength + 1;
      if (pos + len > bytes.length) throw new MetadataError('composite metadata: mime type runs past the end');
      mimeType = String.fromCharCode(...bytes.subarray(pos, pos + len));
      pos += len;
    }
    if (pos + 3 > bytes.length) throw new MetadataError(`composite metadata: entry '${mimeType}' has no length`);
    const len = (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
    pos += 3;
    if (pos + len > bytes.length) throw new MetadataError(`composite metadata: entry '${mimeType}' runs past the end`);
    entries.push({ mimeType, content: bytes.subarray(pos, pos + len) });
    pos += len;
  }
  return entries;
}

export function encodeComposite(entries: Iterable<MetadataEntry>): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const { mimeType, content } of entries) {
    // A reserved id this table does not name decodes as 'unknown-well-known/0xNN' and encodes back to that id.
    const id = WELL_KNOWN_IDS.get(mimeType) ?? unknownWellKnownId(mimeType);
    let head: Uint8Array;
    if (id !== undefined) {
      head = Uint8Array.of(0x80 | id);
    } else {
      const m = encoder.encode(mimeType);
      if (m.length < 1 || m.length > 128) throw new MetadataError(`mime type '${mimeType}' must be 1..128 bytes`);
      // The extension spec makes MIME types US-ASCII; rsocket-js refuses anything else.
      if (!/^[\x20-\x7e]+$/.test(mimeType)) throw new MetadataError(`mime type '${mimeType}' must be printable US-ASCII`);
      head = new Uint8Array(1 + m.length);
      head[0] = m.length - 1;
      head.set(m, 1);
    }
    if (content.length > 0xffffff) throw new MetadataError(`metadata entry '${mimeType}' is over 16 MiB`);
    const len = Uint8Array.of(content.length >>> 16, (content.length >>> 8) & 0xff, content.length & 0xff);
    parts.push(head, len, content);
    size += head.length + 3 + content.length;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The well-known id of a MIME type in the extension's table, else undefined. */
export function wellKnownMimeId(mimeType: string): number | undefined {
  return WELL_KNOWN_IDS.get(mimeType);
}

/** The MIME type of a well-known id (0..0x7f); undefined for a reserved id the table does not name. */
export function wellKnownMimeName(id: number): string | undefined {
  return WELL_KNOWN[id];
}

/** The name an id of the reserved range that the table does not know decodes to. */
function unknownWellKnownName(id: number): string {
  return `unknown-well-known/0x${id.toString(16)}`;
}

/**
 * The id behind a name decodeComposite gave an unknown reserved id, else
 * undefined. Only that exact name of an id missing from the table: a peer can
 * send any string as a MIME type, and one spelled `unknown-well-known/0x7e`
 * re-encoded as id 0x7e would become a routing entry the gateway never
 * checked when it rewrites a request's metadata.
 */
function unknownWellKnownId(mimeType: string): number | undefined {
  const m = /^unknown-well-known\/0x([0-9a-f]{1,2})$/.exec(mimeType);
  if (!m) return undefined;
  const id = Number.parseInt(m[1]!, 16);
  return id <= 0x7f && WELL_KNOWN[id] === undefined && mimeType === unknownWellKnownName(id) ? id : undefined;
}

/** Routing metadata: a sequence of 8-bit length-prefixed UTF-8 tags; the first is the route. */
export function encodeRoutes(...routes: string[]): Uint8Array {
  const tags = routes.map((r) => encoder.encode(r));
  const out = new Uint8Array(tags.reduce((n, t) => n + 1 + t.length, 0));
  let o = 0;
  for (const t of tags) {
    if (t.length < 1 || t.length > 255) throw new MetadataError(`route tag must be 1..255 bytes, got ${t.length}`);
    out[o] = t.length;
    out.set(t, o + 1);
    o += 1 + t.length;
  }
  return out;
}

export function decodeRoutes(bytes: Uint8Array): string[] {
  const routes: string[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const len = bytes[pos++]!;
    if (len === 0 || pos + len > bytes.length) throw new MetadataError('routing metadata: tag length runs past the end');
    try {
      routes.push(decoder.decode(bytes.subarray(pos, pos + len)));
    } catch {
      throw new MetadataError('routing metadata: tag is not valid UTF-8');
    }
    pos += len;
  }
  return routes;
}

/** Composite metadata with one routing entry, plus any extra entries. */
export function routeMetadata(route: string, extra: readonly MetadataEntry[] = []): Uint8Array {
  return encodeComposite([{ mimeType: MimeTypes.ROUTING, content: encodeRoutes(route) }, ...extra]);
}

/** The first tag of the routing entry, or undefined when there is none. Throws MetadataError. */
export function findRoute(metadata: Uint8Array | null): string | undefined {
  if (!metadata || metadata.length === 0) return undefined;
  for (const entry of decodeComposite(metadata)) {
    if (entry.mimeType === MimeTypes.ROUTING) return decodeRoutes(entry.content)[0];
  }
  return undefined;
}

export function findEntry(entries: readonly MetadataEntry[], mimeType: string): MetadataEntry | undefined {
  return entries.find((e) => e.mimeType === mimeType);
}
