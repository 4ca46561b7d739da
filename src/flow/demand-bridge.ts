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
 * consumer requests "unbounded" (2^31-1). The window is counted in items and
 * in bytes: with `windowBytes` set, it shrinks to what fits in that many bytes
 * at the stream's average item size (never below 1), so small items get a deep
 * pipeline and large ones a short one. Below the window, demand passes
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
  /** Most bytes outstanding upstream at once, estimated from the average item size. Default: no byte cap. */
  windowBytes?: number;
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
  /** Running average item size in bytes (0 until the first item). */
  private averageSize = 0;
  private cancelWait: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly options: DemandBridgeOptions) {
    if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError('window must be a positive integer');
  }

  /** Running average size of the items passed, in bytes (0 before the first). */
  get averageItemBytes(): number {
    return this.averageSize;
  }

  /** The window now: items, capped by bytes at the average item size. */
  get window(): number {
    const { window, windowBytes } = this.options;
    // No size seen yet: the item window as configured (estimating the size as
    // windowBytes / window would lose an item to rounding, e.g. 7 items -> 6).
    if (!windowBytes || this.averageSize === 0) return window;
    return Math.max(1, Math.min(window, Math.floor(windowBytes / this.averageSize)));
  }

  /**
   * The first upstream request for a stream opened with `n` consumer demand:
   * records it and returns how much to ask for (at least 1, as RSocket requires).
   */
  open(n: number): number {
    this.credit = addCredit(this.credit, n);
    const first = this.options.writable() ? Math.max(1, Math.min(this.credit, this.window)) : 1;
    this.inflight = first;
    return first;
  }

  /** The consumer requested `n` more. */
  onRequest(n: number): void {
    this.credit = addCredit(this.credit, n);
    this.pump();
  }

  /** One item of `bytes` passed from producer to consumer. */
  onItem(bytes = 0): void {
    // Exponential moving average over about 16 items: follows drifts in item size without storing them.
    this.averageSize = this.averageSize === 0 ? bytes : this.averageSize + (bytes - this.averageSize) / 16;
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
    const window = this.window;
    const want = Math.min(this.credit, window) - this.inflight;
    if (want <= 0) return;
    // Hold small top-ups only when the consumer wants more than the window anyway.
    if (want < Math.max(1, window >> 1) && want < this.credit - this.inflight) return;
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
