/**
 * A bulkhead: at most `maxConcurrent` calls run at once, at most `maxQueue`
 * more wait for a slot in FIFO order, and none waits longer than it was told.
 * Bounds what one route can hold (sockets, memory, the instance's capacity),
 * so a slow dependency saturates its own bulkhead instead of the gateway.
 * Isomorphic; the same instance serves the forwarder and the `bulkhead`
 * RxJS operator.
 */
import { SluiceError } from '../errors.js';

export interface BulkheadOptions {
  /** Calls running at once. Default 100. */
  maxConcurrent: number;
  /** Calls waiting for a slot at once; 0 means callers never wait. Default 100. */
  maxQueue: number;
}

export const defaultBulkheadOptions: BulkheadOptions = { maxConcurrent: 100, maxQueue: 100 };

/** Gives a slot back. Idempotent: only the first call releases. */
export type Release = () => void;

interface Waiter {
  grant(): void;
}

export class Bulkhead {
  readonly options: BulkheadOptions;
  /**
   * `rejected`: `acquire` calls refused at once because the queue was full
   * (or waiting was not allowed); `timedOut`: waiters whose `waitMs` ran out.
   * A `tryAcquire` that returns undefined is not counted: the caller decides
   * what happens next (often `acquire`, which counts).
   */
  readonly counters = { rejected: 0, timedOut: 0 };

  private running = 0;
  /** Waiters in arrival order (a Set iterates in insertion order and deletes in O(1)). */
  private readonly waiters = new Set<Waiter>();

  constructor(options: Partial<BulkheadOptions> = {}) {
    const o = { ...defaultBulkheadOptions, ...options };
    for (const key of ['maxConcurrent', 'maxQueue'] as const) {
      const min = key === 'maxConcurrent' ? 1 : 0;
      if (!Number.isInteger(o[key]) || o[key] < min) throw new RangeError(`bulkhead: ${key} must be an integer >= ${min}, got ${o[key]}`);
    }
    this.options = Object.freeze(o);
  }

  /** Calls holding a slot. */
  get active(): number {
    return this.running;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiters.size;
  }

  /** Takes a slot if one is free and nobody is waiting for it (no overtaking the queue); never waits. */
  tryAcquire(): Release | undefined {
    if (this.running >= this.options.maxConcurrent || this.waiters.size > 0) return undefined;
    this.running++;
    return this.releaser();
  }

  /**
   * `tryAcquire` without a release function, for holders that keep many slots
   * for long (a gateway's open streams): true when a slot was taken. The
   * caller must call `leave()` exactly once for each true.
   */
  tryEnter(): boolean {
    if (this.running >= this.options.maxConcurrent || this.waiters.size > 0) return false;
    this.running++;
    return true;
  }

  /** Gives back a slot taken by `tryEnter`. */
  leave(): void {
    this.running--;
    this.drain();
  }

  /**
   * Takes a slot, waiting in the bounded FIFO queue for at most `waitMs` (or
   * until `signal` aborts). Rejects with SluiceError `OVERLOADED` naming the
   * limit when the queue is full, when `waitMs` <= 0 and no slot is free, or
   * when the wait times out; with the signal's reason (or SluiceError
   * `CANCELED`) on abort. `waitMs` beyond 2^31-1 (about 24.8 days, the
   * longest timer) is capped there. The wait timer is unref'd so it never keeps a
   * process alive, and the waiter leaves the queue on every exit path.
   */
  acquire(waitMs: number, signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!(waitMs > 0)) {
      try {
        return Promise.resolve(this.acquireNow());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const fast = this.tryAcquire();
    if (fast) return Promise.resolve(fast);
    const { maxConcurrent, maxQueue } = this.options;
    if (this.waiters.size >= maxQueue) return Promise.reject(this.refuse(`and ${this.waiters.size} waiting (maxQueue=${maxQueue})`));
    return new Promise<Release>((resolve, reject) => {
      const leave = () => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        leave();
        reject(abortReason(signal!));
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          this.running++;
          resolve(this.releaser());
        },
      };
      const timer = setTimeout(() => {
        leave();
        this.counters.timedOut++;
        reject(new SluiceError('OVERLOADED', `bulkhead: no slot freed within ${waitMs} ms (maxConcurrent=${maxConcurrent}, maxQueue=${maxQueue})`));
      }, Math.min(waitMs, MAX_TIMER_MS));
      unref(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /**
   * The synchronous form of `acquire(0)`: a free slot, or throws SluiceError
   * OVERLOADED at once (counted in `rejected`). For callers that must not
   * wait, and must not wait a microtask either to learn it.
   */
  acquireNow(): Release {
    const slot = this.tryAcquire();
    if (slot) return slot;
    throw this.refuse('and no wait allowed');
  }

  private refuse(why: string): SluiceError {
    this.counters.rejected++;
    return new SluiceError('OVERLOADED', `bulkhead full: ${this.running} calls running (maxConcurrent=${this.options.maxConcurrent}) ${why}`);
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leave();
    };
  }

  private drain(): void {
    for (const waiter of this.waiters) {
      if (this.running >= this.options.maxConcurrent) return;
      waiter.grant();
    }
  }
}

/** The longest delay a JavaScript timer takes. */
const MAX_TIMER_MS = 0x7fffffff;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new SluiceError('CANCELED', 'bulkhead wait aborted');
}

/** Node timers keep the process alive unless unref'd; browser timers are numbers and need nothing. */
function unref(timer: unknown): void {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function') timer.unref();
}
