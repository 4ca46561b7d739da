/**
 * Carries demand across one hop, for one direction of one stream.
 *
 *   consumer ──request(n)──▶ [ credit ]  bridge  [ inflight ] ──request(k)──▶ producer
 *
 * `credit` is what the consumer asked for and has not received; `inflight` is
 * what we asked the producer for and have not received. The bridge keeps
 *
 *   inflight <= min(credit, window)
 *
 * so the producer never gets more demand than the consumer gave, and never
 * more than `window` items can be between the two at once, even when the
 * consumer requests "unbounded" (2^31-1). Below the window, demand passes
 * through at once (a consumer requesting 1 at a time paces the producer 1 at
 * a time); beyond it, top-ups go out in batches of at least `window / 2` to
 * avoid one REQUEST_N per item. While the consumer's connection has unread
 * bytes over its high water mark, no demand goes upstream at all: the
 * producer is paced by what the consumer's socket absorbs.
 */
import { addCredit } from '../rsocket/stream.js';

export interface DemandBridgeOptions {
  /** Most items outstanding upstream at once. */
  window: number;
  /** Sends `n` more demand to the producer. */
  requestUpstream(n: number): void;
  /** Whether the consumer's connection can take more bytes now. */
  writable(): boolean;
  /** Calls back once when the consumer's connection can take bytes again. */
  whenWritable(fn: () => void): () => void;
}

export class DemandBridge {
  /** Consumer demand not yet satisfied. */
  credit = 0;
  /** Producer demand not yet satisfied. */
  inflight = 0;
  private readonly batch: number;
  private cancelWait: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly options: DemandBridgeOptions) {
    if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError('window must be a positive integer');
    this.batch = Math.max(1, Math.floor(options.window / 2));
  }

  /**
   * The first upstream request for a stream opened with `n` consumer demand:
   * records it and returns how much to ask for (at least 1, as RSocket requires).
   */
  open(n: number): number {
    this.credit = addCredit(this.credit, n);
    const first = this.options.writable() ? Math.max(1, Math.min(this.credit, this.options.window)) : 1;
    this.inflight = first;
    return first;
  }

  /** The consumer requested `n` more. */
  onRequest(n: number): void {
    this.credit = addCredit(this.credit, n);
    this.pump();
  }

  /** One item passed from producer to consumer. */
  onItem(): void {
    this.inflight -= 1;
    this.credit -= 1;
    this.pump();
  }

  /** The stream ended: no more upstream requests, no pending wake-up. */
  stop(): void {
    this.stopped = true;
    this.cancelWait?.();
    this.cancelWait = undefined;
  }

  private pump(): void {
    if (this.stopped || this.cancelWait) return;
    const want = Math.min(this.credit, this.options.window) - this.inflight;
    if (want <= 0) return;
    // Hold small top-ups only when the consumer wants more than the window anyway.
    if (want < this.batch && want < this.credit - this.inflight) return;
    if (!this.options.writable()) {
      this.cancelWait = this.options.whenWritable(() => {
        this.cancelWait = undefined;
        this.pump();
      });
      return;
    }
    this.inflight += want;
    this.options.requestUpstream(want);
  }
}
