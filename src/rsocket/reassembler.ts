/**
 * Reassembles fragmented payloads (FOLLOWS flag) per stream. Bounded three
 * ways: each payload by the connection's `maxPayloadSize`, the number of
 * payloads being reassembled at once by `MAX_CONCURRENT` (so one connection
 * holds at most MAX_CONCURRENT x maxPayloadSize bytes), and each payload's
 * time to completion by the connection's fragment timeout (`expire`), so
 * fragments a peer never finishes are not kept forever. The bytes held are
 * reported to the gateway-wide memory budget, when there is one.
 */
import type { Payload } from '../protocol/frames.js';
import type { MemoryHolder } from './memory-budget.js';

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
  /** When the first fragment arrived, in ms (the caller's clock). */
  startedAt: number;
}

/** A payload given up before completion: its stream, and the request it would have opened, if any. */
export interface Abandoned {
  readonly streamId: number;
  readonly request: PendingRequest | undefined;
}

export type AddResult = 'pending' | 'too-large' | { payload: Payload; request: PendingRequest | undefined };

export class Reassembler {
  static readonly MAX_CONCURRENT = 32;
  /** Oldest first: a Map iterates in insertion order, and a stream id is inserted once per payload. */
  private readonly partials = new Map<number, Partial>();
  /** Bytes held over every partial. */
  private held = 0;

  constructor(
    private readonly maxSize: number,
    private readonly memory?: MemoryHolder,
  ) {}

  /** MAX_CONCURRENT payloads are in progress: `start` would refuse. */
  get full(): boolean {
    return this.partials.size >= Reassembler.MAX_CONCURRENT;
  }

  /** Bytes held for payloads in progress. */
  get bytes(): number {
    return this.held;
  }

  /** When the oldest payload in progress started (ms), or undefined when none is. */
  get oldestStartedAt(): number | undefined {
    for (const p of this.partials.values()) return p.startedAt;
    return undefined;
  }

  has(streamId: number): boolean {
    return this.partials.has(streamId);
  }

  /** Starts a payload at time `now` (ms); false when it is already too large or too many are in progress. */
  start(streamId: number, first: Payload, request: PendingRequest | undefined, now = 0): boolean {
    if (this.partials.size >= Reassembler.MAX_CONCURRENT) return false;
    const partial: Partial = { data: [], metadata: [], size: 0, request, startedAt: now };
    this.partials.set(streamId, partial);
    return this.append(streamId, partial, first);
  }

  add(streamId: number, fragment: Payload, follows: boolean): AddResult {
    const partial = this.partials.get(streamId);
    if (!partial) return 'too-large';
    if (!this.append(streamId, partial, fragment)) return 'too-large';
    if (follows) return 'pending';
    this.forget(streamId, partial);
    return {
      payload: { data: concat(partial.data), metadata: partial.metadata.length ? concat(partial.metadata) : null },
      request: partial.request,
    };
  }

  drop(streamId: number): void {
    const partial = this.partials.get(streamId);
    if (partial) this.forget(streamId, partial);
  }

  /** Drops every payload that started at or before `startedBy` (ms), oldest first, and returns them. */
  expire(startedBy: number): Abandoned[] {
    const out: Abandoned[] = [];
    for (const [streamId, partial] of this.partials) {
      if (partial.startedAt > startedBy) break;
      this.forget(streamId, partial);
      out.push({ streamId, request: partial.request });
    }
    return out;
  }

  /** Drops every payload in progress and returns them. */
  abandonAll(): Abandoned[] {
    return this.expire(Infinity);
  }

  clear(): void {
    this.partials.clear();
    this.held = 0;
    this.memory?.release();
  }

  private forget(streamId: number, partial: Partial): void {
    this.partials.delete(streamId);
    this.held -= partial.size;
    this.memory?.add(-partial.size);
  }

  private append(streamId: number, partial: Partial, p: Payload): boolean {
    const bytes = (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
    if (partial.size + bytes > this.maxSize) {
      this.forget(streamId, partial);
      return false;
    }
    // Copies: fragments are views into transport buffers we do not own past this call.
    if (p.data?.length) partial.data.push(p.data.slice());
    if (p.metadata?.length) partial.metadata.push(p.metadata.slice());
    partial.size += bytes;
    this.held += bytes;
    this.memory?.add(bytes);
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
