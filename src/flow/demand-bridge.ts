/**
 * Carries demand across one hop, for one direction of one stream.
 *
 *   consumer ──request(n)──▶ [ credit ]  bridge  [ held | inflight ] ──request(k)──▶ producer
 *
 * `credit` is what the consumer asked for and has not received; `inflight` is
 * what we asked the producer for and have not received; `held` is what the
 * producer sent ahead of the consumer's demand, kept by the caller until the
 * consumer asks. The bridge keeps
 *
 *   inflight + held <= min(credit + ahead, window)
 *
 * where `ahead` starts at the consumer's first request and doubles each time
 * the consumer asks for more items than are held for it, capped by the
 * `prefetch` option (0 while the gateway-wide budget of held bytes is spent).
 * So the producer never gets more demand than the consumer gave plus
 * `prefetch`, and never more than `window` items are between the two at
 * once, even when the consumer requests "unbounded" (2^31-1).
 *
 * Why ask ahead at all: without it the consumer's demand is spread over both
 * hops, and the producer idles while each top-up crosses the gateway. Asking
 * ahead as many as the consumer's own first request gives the second hop the
 * pipeline depth the consumer chose for the first: a consumer requesting 1 at
 * a time, from a producer that keeps up, still paces it 1 at a time, one item
 * ahead.
 *
 * Why grow it: the same depth on both hops is not enough when the hop itself
 * is late. The gateway reads the producer's items only when it gets the CPU,
 * and items waiting in its socket still count against the producer's demand,
 * so a producer behind a busy gateway runs out of demand and idles (measured:
 * a bench service behind the gateway spent 20-25% of its time waiting for
 * demand that the same service reached directly did not). A consumer that
 * asks for n more while fewer than n are held will wait: the second hop was
 * too shallow, so it doubles, like a TCP receive window growing while the
 * receiver finds it empty. It never shrinks, and costs memory only while the
 * consumer is the slower side, when held items are still bounded by `prefetch`,
 * the window and the budgets. A consumer that finds what it asks for held
 * (the producer keeps up) never makes it grow.
 *
 * The window is counted in items and in bytes: with `windowBytes` set, it
 * shrinks to what fits in that many bytes at the stream's average item size
 * (never below 1), so small items get a deep pipeline and large ones a short
 * one. Before the first item no size is known: with `maxItemBytes` (the
 * largest payload the producer may send) the window starts at what fits in
 * `windowBytes` at that size, so even the first request cannot bring more
 * than `windowBytes` (or one largest item) across the hop; it grows to the
 * item window as soon as the first item shows the real size. Small items pay
 * one round trip for it; large ones are paced from the start instead of
 * arriving as a burst of `window` items the consumer's socket cannot take.
 * Below the window, demand passes through at once; beyond it, top-ups go
 * out in batches of at least `window / 2` to avoid one REQUEST_N per item.
 * While the consumer's connection has unread bytes over its high water mark,
 * no demand goes upstream at all: the producer is paced by what the
 * consumer's socket absorbs.
 */
import { addCredit } from '../rsocket/stream.js';
import type { MemoryHolder } from '../rsocket/memory-budget.js';
import type { PrefetchBudget } from './prefetch-budget.js';

export interface DemandBridgeOptions {
  /** Most items outstanding upstream at once. */
  window: number;
  /** Most bytes outstanding upstream at once, estimated from the average item size. Default: no byte cap. */
  windowBytes?: number;
  /**
   * Largest item the producer may send, in bytes (the payload size limit):
   * sizes the window before the first item, with `windowBytes`. Default: the
   * item window until the first item.
   */
  maxItemBytes?: number;
  /**
   * Most items to ask of the producer beyond the consumer's demand. A stream
   * asks ahead as many as its consumer's first request, doubling each time the
   * consumer asks for more than is held, up to this and the window.
   * Default 0: demand passes through unchanged.
   */
  prefetch?: number;
  /** Gateway-wide bytes held ahead of demand; prefetch pauses while it is spent. */
  budget?: PrefetchBudget;
  /** Reports the bytes held for the consumer to the gateway-wide memory budget. */
  memory?: MemoryHolder;
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
  /** Items received ahead of the consumer's demand, kept by the caller. */
  held = 0;
  /** Their bytes. */
  heldBytes = 0;
  /** Running average item size in bytes (0 until the first item). */
  private averageSize = 0;
  /** Items this stream asks ahead of its consumer: the first request, doubled at each request for more than was held, at most the prefetch option. */
  private ahead = 0;
  private cancelWait: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly options: DemandBridgeOptions) {
    if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError('window must be a positive integer');
  }

  /** Items asked ahead of the consumer's demand while the budget has room. */
  get aheadItems(): number {
    return this.ahead;
  }

  /** Running average size of the items passed, in bytes (0 before the first). */
  get averageItemBytes(): number {
    return this.averageSize;
  }

  /** The window now: items, capped by bytes at the average item size. */
  get window(): number {
    const { window, windowBytes, maxItemBytes } = this.options;
    if (!windowBytes) return window;
    // No size seen yet: what fits at the largest size an item may have; without
    // that bound, the item window as configured (estimating the size as
    // windowBytes / window would lose an item to rounding, e.g. 7 items -> 6).
    const size = this.averageSize === 0 ? maxItemBytes : this.averageSize;
    if (!size) return window;
    return Math.max(1, Math.min(window, Math.floor(windowBytes / size)));
  }

  /**
   * The first upstream request for a stream opened with `n` consumer demand:
   * records it and returns how much to ask for (at least 1, as RSocket requires).
   */
  open(n: number): number {
    this.credit = addCredit(this.credit, n);
    this.ahead = Math.min(n, this.options.prefetch ?? 0);
    const first = this.options.writable() ? Math.max(1, Math.min(this.credit + this.prefetch, this.window)) : 1;
    this.inflight = first;
    return first;
  }

  /**
   * The consumer requested `n` more. Held items go first: `release` sends the
   * oldest one to the consumer and returns its size in bytes.
   */
  onRequest(n: number, release?: () => number): void {
    // Fewer held than the consumer asks for: it will wait on the producer for the rest, so ask further ahead.
    if (this.held < n && this.ahead > 0) this.ahead = Math.min(this.ahead * 2, this.options.prefetch ?? 0);
    this.credit = addCredit(this.credit, n);
    if (release && this.held > 0 && this.credit > 0) {
      // The released bytes are given back to the budgets once for the batch, not per item: a
      // consumer's REQUEST_N typically releases dozens of held items at once.
      let released = 0;
      while (this.held > 0 && this.credit > 0) {
        released += release();
        this.held -= 1;
        this.credit -= 1;
      }
      this.heldBytes -= released;
      if (this.options.budget) this.options.budget.held -= released;
      this.options.memory?.add(-released);
    }
    this.pump();
  }

  /**
   * One item of `bytes` arrived from the producer. Returns true when it may go
   * to the consumer now; false when the consumer has not asked for it yet, and
   * the caller must hold it until `onRequest` releases it.
   */
  arrive(bytes = 0): boolean {
    // Exponential moving average over about 16 items: follows drifts in item size without storing them.
    this.averageSize = this.averageSize === 0 ? bytes : this.averageSize + (bytes - this.averageSize) / 16;
    this.inflight -= 1;
    if (this.held === 0 && this.credit > 0) {
      this.credit -= 1;
      this.pump();
      return true;
    }
    this.held += 1;
    this.heldBytes += bytes;
    if (this.options.budget) this.options.budget.held += bytes;
    this.options.memory?.add(bytes);
    return false;
  }

  /** One item of `bytes` passed from producer to consumer (a direction without prefetch, where every item is wanted). */
  onItem(bytes = 0): void {
    this.arrive(bytes);
  }

  /** The stream ended: no more upstream requests, no pending wake-up. */
  stop(): void {
    this.stopped = true;
    if (this.options.budget) this.options.budget.held -= this.heldBytes;
    this.options.memory?.release();
    this.held = 0;
    this.heldBytes = 0;
    this.cancelWait?.();
    this.cancelWait = undefined;
  }

  /** Items to ask for beyond the consumer's demand now. */
  private get prefetch(): number {
    const budget = this.options.budget;
    return budget && !budget.open ? 0 : this.ahead;
  }

  private pump(): void {
    if (this.stopped || this.cancelWait) return;
    const window = this.window;
    const ahead = this.credit + this.prefetch;
    const want = Math.min(ahead, window) - this.inflight - this.held;
    if (want <= 0) return;
    // Hold small top-ups only when the window, not the consumer, is the limit.
    if (want < Math.max(1, window >> 1) && window < ahead) return;
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
