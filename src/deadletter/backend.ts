/**
 * What the dead-letter queue needs of where its entries live, so the same
 * sink, routes and metrics work over the embedded file log (store.ts, one
 * gateway) and over a JetStream stream shared by a fleet
 * (jetstream-store.ts). Replays go through a claim: whoever holds an
 * entry's claim is the only one replaying it, so two `dlq.replay` calls
 * (on one gateway or on two) never send the same entry twice.
 */
import type { DeadLetter, ListOptions, NewDeadLetter } from './store.js';

/** A value, or a promise of it: the embedded log answers at once, JetStream after a round trip. */
export type Awaitable<T> = T | Promise<T>;

/** The outcome of `claim`: the entry to replay, or why this caller may not replay it now. */
export type Claim = { ok: true; entry: DeadLetter } | { ok: false; reason: string };

/** Counters of one gateway's dead-letter store, since it started. */
export interface DeadLetterCounters {
  added: number;
  /** Adds refused because the queue holds its bound (`deadLetter.maxEntries` / `maxBytes`). */
  refused: number;
  replayed: number;
  replayFailures: number;
}

export interface DeadLetterBackend {
  /** `embedded` (the gateway's file log) or `jetstream` (shared by every gateway on the same NATS). */
  readonly kind: 'embedded' | 'jetstream';
  readonly counters: DeadLetterCounters;
  /** Pending entries (JetStream: the whole fleet's, read at most 1 s ago). */
  readonly size: number;
  /**
   * Durably stores a dead letter and returns it with its id. At the bound it
   * rejects with SluiceError OVERLOADED `dead-letter queue full (...)`
   * (counted in `counters.refused`); nothing stored is dropped to make room.
   */
  add(input: NewDeadLetter): Promise<DeadLetter>;
  /** The entry, while it is stored (JetStream: pending ones only; a replayed entry is removed). */
  get(id: string): Awaitable<DeadLetter | undefined>;
  /** A pending copy of this request, if the store can tell cheaply (JetStream deduplicates in `add` instead). */
  findPending(model: DeadLetter['model'], route: string, data: string): Awaitable<DeadLetter | undefined>;
  /** Entries oldest first, after `options.after` (an id) when given; by default the pending ones. */
  list(options?: ListOptions): Awaitable<DeadLetter[]>;
  /**
   * Takes the right to replay pending entry `id`. Rejects with
   * INVALID_ARGUMENT when there is no such entry (or it was replayed);
   * resolves `{ ok: false }` when someone else holds its claim.
   */
  claim(id: string): Promise<Claim>;
  /** Records the outcome of a claimed replay and gives the claim back; returns the entry as it is now. */
  settle(id: string, succeeded: boolean, error?: { code: string; message: string }): Promise<DeadLetter>;
  close(): Promise<void>;
}
