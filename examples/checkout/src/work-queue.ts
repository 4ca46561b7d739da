/**
 * The order service's bounded work queue: a counting semaphore over the
 * place commands it has taken in and not yet answered. `acquire` takes a
 * slot or waits for one (FIFO); waiters are bounded too, and at that limit
 * `acquire` fails at once with OVERLOADED. `depth` and `max` (its high water
 * mark since start) are what `orders.stats` reports.
 */
import { SluiceError } from 'sluice';

interface Waiter {
  resolve(): void;
  reject(e: SluiceError): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class WorkQueue {
  private inUse = 0;
  private highWater = 0;
  private readonly waiters: Waiter[] = [];

  /**
   * @param capacity slots (commands in progress at most)
   * @param maxWaiters callers allowed to wait for a slot; more get OVERLOADED
   */
  constructor(
    readonly capacity: number,
    readonly maxWaiters: number,
  ) {}

  /** Slots taken now. */
  get depth(): number {
    return this.inUse;
  }

  /** Most slots ever taken at once. */
  get max(): number {
    return this.highWater;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a slot, waiting for one if the queue is full. Rejects with CANCELED if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new SluiceError('CANCELED', 'cancelled while waiting for room in the work queue'));
    if (this.inUse < this.capacity && this.waiters.length === 0) {
      this.take();
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxWaiters) {
      return Promise.reject(new SluiceError('OVERLOADED', `the order work queue is full (${this.capacity} in progress, ${this.waiters.length} waiting); retry later`));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new SluiceError('CANCELED', 'cancelled while waiting for room in the work queue'));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives a slot back: to the first waiter if any (the depth stays), else to the pool. */
  release(): void {
    const next = this.waiters.shift();
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve();
      return;
    }
    if (this.inUse === 0) throw new Error('WorkQueue.release() without a matching acquire()');
    this.inUse--;
  }

  private take(): void {
    this.inUse++;
    if (this.inUse > this.highWater) this.highWater = this.inUse;
  }
}
