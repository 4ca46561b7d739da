/**
 * Reassembles fragmented payloads (FOLLOWS flag) per stream. Bounded three
 * ways: each payload by the connection's `maxPayloadSize`, the number of
 * payloads being reassembled at once by `MAX_CONCURRENT` (so one connection
 * holds at most MAX_CONCURRENT x maxPayloadSize bytes), and each payload's
 * time to completion by the connection's fragment timeout (`expire`), so
 * fragments a peer never finishes are not kept forever. Fragments are copied
 * into blocks of a pool shared by every connection (block-pool.ts), which are
 * reused once their payload completes or is dropped; the block bytes held
 * are reported to the gateway-wide memory budget, when there is one.
 */
import type { Payload } from '../protocol/frames.js';
import { BlockChain, BlockPool } from './block-pool.js';
import type { MemoryHolder } from './memory-budget.js';

/** The pool every reassembler takes its blocks from unless given another. */
const sharedPool = new BlockPool();

export interface PendingRequest {
  readonly type: number;
  readonly requestN: number;
  readonly complete: boolean;
}

interface Partial {
  data: BlockChain;
  /** Made when a fragment first carries metadata. */
  metadata: BlockChain | undefined;
  /** Payload bytes so far (metadata + data), held to maxSize. */
  size: number;
  /** Block bytes held, as reported to the memory holder. */
  held: number;
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
  /** Block bytes held over every partial. */
  private held = 0;

  /**
   * @param maxSize largest payload (metadata + data) in bytes
   * @param memory where the block bytes held are reported
   * @param pool where fragments' blocks come from; default one pool per process
   */
  constructor(
    private readonly maxSize: number,
    private readonly memory?: MemoryHolder,
    private readonly pool: BlockPool = sharedPool,
  ) {}

  /** MAX_CONCURRENT payloads are in progress: `start` would refuse. */
  get full(): boolean {
    return this.partials.size >= Reassembler.MAX_CONCURRENT;
  }

  /** Bytes held for payloads in progress: their blocks, whole. */
  get bytes(): number {
    return this.held;
  }

  /** When the oldest payload in progress started (ms), or undefined when none is. */
  get oldestStartedAt(): number | undefined {
    for (const p of this.partials.values()) return p.startedAt;
    return undefined;
  }

  has(streamId: number): boolean {
    // Asked for every PAYLOAD frame; nearly always with nothing in progress, where the size says it without a lookup.
    return this.partials.size !== 0 && this.partials.has(streamId);
  }

  /** Starts a payload at time `now` (ms); false when it is already too large or too many are in progress. */
  start(streamId: number, first: Payload, request: PendingRequest | undefined, now = 0): boolean {
    if (this.partials.size >= Reassembler.MAX_CONCURRENT) return false;
    const partial: Partial = { data: new BlockChain(this.pool), metadata: undefined, size: 0, held: 0, request, startedAt: now };
    this.partials.set(streamId, partial);
    return this.append(streamId, partial, first);
  }

  add(streamId: number, fragment: Payload, follows: boolean): AddResult {
    const partial = this.partials.get(streamId);
    if (!partial) return 'too-large';
    if (!this.append(streamId, partial, fragment)) return 'too-large';
    if (follows) return 'pending';
    const payload = { data: partial.data.bytes(), metadata: partial.metadata ? partial.metadata.bytes() : null };
    this.forget(streamId, partial);
    return { payload, request: partial.request };
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
    for (const partial of this.partials.values()) release(partial);
    this.partials.clear();
    this.held = 0;
    this.memory?.release();
  }

  private forget(streamId: number, partial: Partial): void {
    this.partials.delete(streamId);
    release(partial);
    this.held -= partial.held;
    this.memory?.add(-partial.held);
  }

  private append(streamId: number, partial: Partial, p: Payload): boolean {
    const bytes = (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
    if (partial.size + bytes > this.maxSize) {
      this.forget(streamId, partial);
      return false;
    }
    // Copied: fragments are views into transport buffers (in Node, Buffer#slice is a view too), and
    // holding a view would keep the transport's whole buffer alive, uncounted.
    if (p.data?.length) partial.data.append(p.data);
    if (p.metadata?.length) (partial.metadata ??= new BlockChain(this.pool)).append(p.metadata);
    partial.size += bytes;
    const held = partial.data.heldBytes + (partial.metadata?.heldBytes ?? 0);
    const delta = held - partial.held;
    partial.held = held;
    this.held += delta;
    this.memory?.add(delta);
    return true;
  }
}

function release(partial: Partial): void {
  partial.data.release();
  partial.metadata?.release();
}
