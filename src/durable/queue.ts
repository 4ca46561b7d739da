/**
 * The seam between durable routes and where their commands are kept. The
 * gateway's intake appends, its dispatcher pulls as instances grant demand
 * and settles each delivery; two backends implement it: the embedded segment
 * log (one machine, in the gateway's data directory) and NATS JetStream
 * (several gateways sharing one queue per route).
 */
import type { Payload } from '../protocol/frames.js';

/** One command as a client sent it, with the idempotency key read from its metadata. */
export interface DurableCommand {
  readonly payload: Payload;
  /** Deduplicates within the queue's window; undefined: never deduplicated. */
  readonly key: string | undefined;
}

/** What `append` resolves with, once the command is persisted. */
export interface Appended {
  /** The command's id in its queue: stable across redeliveries and restarts. */
  readonly id: string;
  /** True when the key was seen within the window: nothing new was stored, `id` is the first command's. */
  readonly duplicate: boolean;
}

/** One delivery of a persisted command; exactly one of `ack`, `nack` or `term` settles it. */
export interface Delivery {
  readonly id: string;
  readonly payload: Payload;
  readonly key: string | undefined;
  /** This delivery's number, from 1. */
  readonly deliveries: number;
  /** Epoch ms the command was persisted. */
  readonly enqueuedAt: number;
  /** Done: never delivered again. */
  ack(): void;
  /** Deliver again, not before `delayMs`. */
  nack(delayMs: number): void;
  /** Done without success (dead-lettered by the caller): never delivered again. */
  term(): void;
}

/** Depth and age, for metrics and the dashboard. */
export interface QueueStats {
  /** Commands persisted and not yet acked or terminated (in flight included). */
  depth: number;
  /** Age in ms of the oldest such command; 0 when empty. */
  oldestAgeMs: number;
}

export interface DurableQueue {
  readonly route: string;
  /** Persists a command; resolves only once it would survive a crash. Rejects OVERLOADED at the queue's bounds. */
  append(command: DurableCommand): Promise<Appended>;
  /**
   * Hands up to `max` ready commands to `deliver`, then resolves. When none is
   * ready it waits for one (or for `signal`), so a dispatcher with demand can
   * keep exactly one pull outstanding.
   */
  pull(max: number, deliver: (d: Delivery) => void, signal: AbortSignal): Promise<void>;
  stats(): QueueStats;
  close(): Promise<void>;
}

/** Bounds of one route's queue, from its policy (`durable.*`). */
export interface QueueLimits {
  /** Commands held at most (in flight included); beyond, `append` rejects OVERLOADED. */
  maxMessages: number;
  /** Bytes of payload held at most; same behaviour. */
  maxBytes: number;
  /** A repeated idempotency key within this many ms is a duplicate. */
  dedupeWindowMs: number;
  /** The gateway fails a delivery unsettled this long (`durable.ackTimeoutMs`); a backend that redelivers by itself (JetStream's ack wait) waits longer, so only a gateway gone triggers it. */
  ackTimeoutMs: number;
}

/** Opens the queue of one durable route (the backend's factory). */
export interface DurableBackend {
  readonly name: 'embedded' | 'jetstream';
  open(route: string, limits: QueueLimits): Promise<DurableQueue>;
  /** Routes that already hold commands (from before a restart), so their delivery starts without a new request. */
  existingRoutes(): Promise<string[]>;
  close(): Promise<void>;
}
