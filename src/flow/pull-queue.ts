/**
 * An inbound payload stream as an AsyncIterableIterator whose demand follows
 * the consumer's pace: items are requested only from `next()`, so a consumer
 * that awaits slow work between items requests nothing meanwhile.
 *
 * `prefetch` bounds what is requested and not yet taken by the consumer
 * (queued + outstanding). With prefetch 1 the producer is asked for exactly
 * one item each time the consumer asks for one; larger values pipeline,
 * topping up in batches of at least prefetch / 2. Because the peer can never
 * send beyond what was requested (the engine enforces it), the queue never
 * holds more than `prefetch` items. Isomorphic.
 */
import { SluiceError } from '../errors.js';

export interface PullQueueOptions {
  /** Items requested and not yet taken, at most. Default 1. */
  prefetch?: number;
  /** Items the peer already sent or was granted before the queue existed (e.g. a channel's first payload). */
  initiallyOutstanding?: number;
  /** Sends demand to the producer. */
  request(n: number): void;
  /** Tells the producer to stop (consumer broke out of its loop). */
  cancel(): void;
}

type Waiter<T> = { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };

export class PullQueue<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private outstanding: number;
  private readonly prefetch: number;
  private readonly batch: number;
  private waiter: Waiter<T> | undefined;
  private ended: { error?: SluiceError } | undefined;
  private cancelled = false;

  constructor(private readonly options: PullQueueOptions) {
    this.prefetch = Math.max(1, Math.floor(options.prefetch ?? 1));
    this.batch = Math.max(1, Math.floor(this.prefetch / 2));
    this.outstanding = options.initiallyOutstanding ?? 0;
  }

  /** Items waiting for the consumer. */
  get size(): number {
    return this.queue.length;
  }

  push(item: T): void {
    if (this.cancelled) return;
    this.outstanding = Math.max(0, this.outstanding - 1);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    this.queue.push(item);
  }

  complete(): void {
    this.end({});
  }

  error(error: SluiceError): void {
    this.end({ error });
  }

  next(): Promise<IteratorResult<T>> {
    // Demand is topped up when the consumer asks, counting what it is about
    // to take as still held: with prefetch 1 nothing is requested while the
    // consumer works on an item.
    this.topUp();
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
    if (this.ended) {
      return this.ended.error ? Promise.reject(this.ended.error) : Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter) return Promise.reject(new Error('PullQueue: next() called again before the previous one settled'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /**
   * The consumer stopped early (`break`, `return`, an abort signal): cancel the
   * producer. A `next()` still waiting (the abort came from outside the loop)
   * resolves with done, or the consumer would wait forever.
   */
  return(): Promise<IteratorResult<T>> {
    if (!this.ended && !this.cancelled) {
      this.cancelled = true;
      this.queue.length = 0;
      this.options.cancel();
    }
    this.end({});
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private topUp(): void {
    if (this.ended || this.cancelled) return;
    const deficit = this.prefetch - this.queue.length - this.outstanding;
    if (deficit <= 0) return;
    if (deficit < this.batch && (this.queue.length > 0 || this.outstanding > 0)) return;
    this.outstanding += deficit;
    this.options.request(deficit);
  }

  private end(state: { error?: SluiceError }): void {
    if (this.ended) return;
    this.ended = state;
    const w = this.waiter;
    this.waiter = undefined;
    if (!w) return;
    if (state.error) w.reject(state.error);
    else w.resolve({ value: undefined, done: true });
  }
}
