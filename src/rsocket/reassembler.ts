/**
 * Reassembles fragmented payloads (FOLLOWS flag) per stream. Bounded twice:
 * each payload by the connection's `maxPayloadSize`, and the number of
 * payloads being reassembled at once by `MAX_CONCURRENT`, so a peer cannot
 * make the connection hold more than MAX_CONCURRENT x maxPayloadSize bytes.
 */
import type { Payload } from '../protocol/frames.js';

export interface PendingRequest {
  readonly type: number;
  readonly requestN: number;
  readonly complete: boolean;
}

interface Partial {
  data: Uint8Array[];
  metadata: Uint8Array[];
  size: number;
  request: PendingRequest | undefined;
}

export type AddResult = 'pending' | 'too-large' | { payload: Payload; request: PendingRequest | undefined };

export class Reassembler {
  static readonly MAX_CONCURRENT = 32;
  private readonly partials = new Map<number, Partial>();

  constructor(private readonly maxSize: number) {}

  /** MAX_CONCURRENT payloads are in progress: `start` would refuse. */
  get full(): boolean {
    return this.partials.size >= Reassembler.MAX_CONCURRENT;
  }

  has(streamId: number): boolean {
    return this.partials.has(streamId);
  }

  /** Starts a payload; false when it is already too large or too many are in progress. */
  start(streamId: number, first: Payload, request: PendingRequest | undefined): boolean {
    if (this.partials.size >= Reassembler.MAX_CONCURRENT) return false;
    const partial: Partial = { data: [], metadata: [], size: 0, request };
    this.partials.set(streamId, partial);
    return this.append(streamId, partial, first);
  }

  add(streamId: number, fragment: Payload, follows: boolean): AddResult {
    const partial = this.partials.get(streamId);
    if (!partial) return 'too-large';
    if (!this.append(streamId, partial, fragment)) return 'too-large';
    if (follows) return 'pending';
    this.partials.delete(streamId);
    return {
      payload: { data: concat(partial.data), metadata: partial.metadata.length ? concat(partial.metadata) : null },
      request: partial.request,
    };
  }

  drop(streamId: number): void {
    this.partials.delete(streamId);
  }

  clear(): void {
    this.partials.clear();
  }

  private append(streamId: number, partial: Partial, p: Payload): boolean {
    partial.size += (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
    if (partial.size > this.maxSize) {
      this.partials.delete(streamId);
      return false;
    }
    // Copies: fragments are views into transport buffers we do not own past this call.
    if (p.data?.length) partial.data.push(p.data.slice());
    if (p.metadata?.length) partial.metadata.push(p.metadata.slice());
    return true;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
