/**
 * The order service's bounded work queue: the place commands it has taken in
 * and not yet answered. Sluice's Bulkhead does the bounding (slots, a FIFO
 * line of bounded length, OVERLOADED past it, a waiter that is cancelled
 * leaving the line); this adds what `orders.stats` reports (`depth`, `max`,
 * its high water mark since start) and a `release()` without a token, since
 * a `checkout.submit` channel frees a command's slot where its ack goes out,
 * far from where the slot was taken.
 */
import { Bulkhead, SluiceError, type Release } from 'sluice';

/** How long a caller may wait for a slot: as long as it stays (its signal ends the wait), up to the Bulkhead's longest timer. */
const WAIT_AS_LONG_AS_NEEDED_MS = Number.POSITIVE_INFINITY;

export class WorkQueue {
  private readonly bulkhead: Bulkhead;
  /** One releaser per slot taken; slots are alike, so any of them frees one. */
  private readonly held: Release[] = [];
  private highWater = 0;

  /**
   * @param capacity slots (commands in progress at most)
   * @param maxWaiters callers allowed to wait for a slot; more get OVERLOADED
   */
  constructor(
    readonly capacity: number,
    readonly maxWaiters: number,
  ) {
    this.bulkhead = new Bulkhead({ maxConcurrent: capacity, maxQueue: maxWaiters });
  }

  /** Slots taken now. */
  get depth(): number {
    return this.bulkhead.active;
  }

  /** Most slots ever taken at once. */
  get max(): number {
    return this.highWater;
  }

  get waiting(): number {
    return this.bulkhead.queued;
  }

  /**
   * Takes a slot, waiting for one (FIFO) if the queue is full. Rejects with
   * OVERLOADED when `maxWaiters` callers already wait, with CANCELED if
   * `signal` aborts first.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    let release: Release;
    try {
      release = await this.bulkhead.acquire(WAIT_AS_LONG_AS_NEEDED_MS, signal);
    } catch (err) {
      if (signal?.aborted) throw new SluiceError('CANCELED', 'cancelled while waiting for room in the work queue');
      const e = SluiceError.from(err);
      if (e.code !== 'OVERLOADED') throw e;
      throw new SluiceError('OVERLOADED', `the order work queue is full (${this.capacity} in progress, ${this.waiting} waiting); retry later`, { cause: e });
    }
    this.held.push(release);
    if (this.depth > this.highWater) this.highWater = this.depth;
  }

  /** Gives a slot back: to the first waiter if any (the depth stays), else to the pool. */
  release(): void {
    const release = this.held.pop();
    if (!release) throw new Error('WorkQueue.release() without a matching acquire()');
    release();
  }
}
