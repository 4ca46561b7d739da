/**
 * What the forwarder reads from a request's metadata before anything else
 * (its composite entries and its route), remembered per connection for the
 * last metadata bytes seen. A client calling one route sends the same
 * metadata bytes on every request, and decoding them (entries, MIME checks,
 * the route's UTF-8) plus copying them out of the socket read was a steady
 * share of the gateway's CPU per request-response. A request whose metadata
 * is byte for byte the one before reuses that decode and its copy of the
 * bytes; any other goes the full way and becomes the one remembered.
 *
 * Exact by construction: decoding is a pure function of the bytes, only a
 * decode that succeeded is remembered, and a hit needs every byte equal.
 * Bounded: one entry per connection, of at most MAX_CACHED_METADATA bytes.
 * The remembered bytes and entries are shared by every request that hits,
 * so nothing may write to them (nothing does: forwarding copies what it
 * rewrites, and the entries are frozen).
 */
import type { MetadataEntry } from '../protocol/metadata.js';
import { copyOf } from '../protocol/copy-bytes.js';
import { ownBytes } from './own-bytes.js';

/** Metadata longer than this is decoded every time and not remembered (routes, deadlines and a MIME entry fit well within it). */
export const MAX_CACHED_METADATA = 256;

/** A request's metadata as the forwarder uses it: its own copy of the bytes, the decoded entries and the route. */
export interface RequestHead {
  /** The metadata bytes in a buffer of their own (not a view of the socket read), or null when the request had none. */
  readonly metadata: Uint8Array | null;
  readonly entries: readonly MetadataEntry[];
  readonly route: string;
}

/** How a miss is decoded: entries from the bytes, then the route from the entries; each throws the request's refusal. */
export interface HeadDecoder {
  entries(metadata: Uint8Array | null): MetadataEntry[];
  route(entries: readonly MetadataEntry[]): string;
}

/** The last request head of one connection. */
export class RequestHeads {
  private last: RequestHead | undefined;
  /** Hits and misses since creation (read by the tests; not a metric). */
  hits = 0;
  misses = 0;

  constructor(private readonly decoder: HeadDecoder) {}

  /**
   * The head of a request whose metadata is `metadata` (a view into a frame
   * the caller does not keep). Throws what the decoder throws; a failed
   * decode leaves the remembered head as it was.
   */
  read(metadata: Uint8Array | null): RequestHead {
    const last = this.last;
    if (last && sameBytes(last.metadata, metadata)) {
      this.hits++;
      return last;
    }
    this.misses++;
    const keep = !metadata || metadata.length <= MAX_CACHED_METADATA;
    const owned = keep ? exactCopy(metadata) : ownBytes(metadata);
    const entries = this.decoder.entries(owned);
    const route = this.decoder.route(entries);
    if (!keep) return { metadata: owned, entries, route };
    for (const e of entries) Object.freeze(e);
    const head: RequestHead = { metadata: owned, entries: Object.freeze(entries), route };
    this.last = head;
    return head;
  }
}

/** Bytes in a buffer of exactly their size, for what a connection keeps for its whole life (pinning no pool slab). */
function exactCopy(b: Uint8Array | null): Uint8Array | null {
  return b && b.byteLength < b.buffer.byteLength ? copyOf(b) : b;
}

/** Whether two metadata byte strings are equal; null (no metadata) equals only null, since the forwarded frame keeps the difference. */
function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
