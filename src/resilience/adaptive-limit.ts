/**
 * An adaptive concurrency limit: how many calls may be in flight toward one
 * dependency, sized from what the dependency shows it can take rather than a
 * fixed count. In the spirit of Netflix concurrency-limits' gradient limit
 * and TCP Vegas: latency that stays near its no-load level means there is
 * room (the limit grows while callers use it), latency that climbs means a
 * queue is building there (the limit shrinks in proportion), and an overload
 * signal (a timeout, OVERLOADED) or an error rate above a threshold cuts it
 * multiplicatively, once per round of calls. Errors that answer at once below that rate (a flaky
 * dependency failing 20% of calls) say nothing about its capacity and do not
 * shrink it. Bounded: `minLimit..maxLimit` calls, and at most `maxQueue`
 * callers waiting for a permit (more are refused with OVERLOADED).
 *
 * Isomorphic; time comes from an injected Clock.
 */
import { SluiceError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';

export interface AdaptiveLimitOptions {
  /** Limit before any measurement. Default 20. */
  initialLimit: number;
  /** The limit never goes below this. Default 1. */
  minLimit: number;
  /** The limit never goes above this. Default 1000. */
  maxLimit: number;
  /** Callers allowed to wait for a permit; more are refused with OVERLOADED. Default 10,000. */
  maxQueue: number;
  /**
   * Latency may reach this multiple of its long-run average before the limit
   * shrinks (the gradient is `tolerance * long / short`, capped at 1). Default 2.
   */
  tolerance: number;
  /** Weight of each new limit estimate, 0 (exclusive) to 1. Default 0.2. */
  smoothing: number;
  /** Samples the long-run latency average spans (its EWMA window). Default 600. */
  longWindow: number;
  /**
   * Multiplier applied on an overload signal or a too-high error rate, 0 to 1
   * (exclusive); at most once per round: signals from calls sent before the
   * last cut do not cut again. Default 0.9.
   */
  backoffRatio: number;
  /** Samples the error rate is averaged over (EWMA window). Default 100. */
  errorWindow: number;
  /** Error rate (0-1) above which errors count as overload. Default 0.5. */
  errorRateThreshold: number;
}

export const defaultAdaptiveLimitOptions: AdaptiveLimitOptions = {
  initialLimit: 20,
  minLimit: 1,
  maxLimit: 1_000,
  maxQueue: 10_000,
  tolerance: 2,
  smoothing: 0.2,
  longWindow: 600,
  backoffRatio: 0.9,
  errorWindow: 100,
  errorRateThreshold: 0.5,
};

/**
 * One admitted call. Report how it ended exactly once; later reports are ignored.
 * - `success()`: answered; its latency is a sample.
 * - `dropped()`: a sign of overload (timed out, OVERLOADED from the dependency): the limit shrinks.
 * - `failed()`: an error that is not about load (UNAVAILABLE, a bad answer): counted in the error rate only.
 * - `ignore()`: says nothing about the dependency (refused before reaching it, cancelled by the caller).
 */
export interface Permit {
  success(): void;
  dropped(): void;
  failed(): void;
  ignore(): void;
}

interface Waiter {
  grant(permit: Permit): void;
}

export class AdaptiveLimit {
  readonly options: AdaptiveLimitOptions;
  /** `drops`: overload signals; `errors`: failed calls; `rejected`: acquires refused because the queue was full. */
  readonly counters = { successes: 0, drops: 0, errors: 0, rejected: 0 };
  private estimate: number;
  private running = 0;
  /** When the limit was last cut (clock ms): calls admitted before it were sent under the old limit. */
  private cutAt = -Infinity;
  private longRtt = 0;
  private samples = 0;
  private errorRate = 0;
  private readonly waiters = new Set<Waiter>();

  constructor(
    options: Partial<AdaptiveLimitOptions> = {},
    private readonly clock: Clock = systemClock,
  ) {
    this.options = validate({ ...defaultAdaptiveLimitOptions, ...options });
    this.estimate = this.options.initialLimit;
  }

  /** Calls admitted now may reach this many. */
  get limit(): number {
    return Math.max(this.options.minLimit, Math.floor(this.estimate));
  }

  /** Calls holding a permit. */
  get inFlight(): number {
    return this.running;
  }

  /** Callers waiting for a permit. */
  get queued(): number {
    return this.waiters.size;
  }

  /** The long-run average latency of successful calls, in ms (0 before the first). */
  get latencyMs(): number {
    return this.longRtt;
  }

  /** The recent error rate (EWMA over `errorWindow` calls), 0-1. */
  get recentErrorRate(): number {
    return this.errorRate;
  }

  /** A permit if one is free and nobody waits ahead; never waits. */
  tryAcquire(): Permit | undefined {
    if (this.waiters.size > 0 || this.running >= this.limit) return undefined;
    return this.admit();
  }

  /**
   * A permit, waiting (FIFO) for one while the limit is reached. Rejects with
   * OVERLOADED when `maxQueue` callers already wait, CANCELED when `signal` aborts first.
   */
  acquire(signal?: AbortSignal): Promise<Permit> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.reject(new SluiceError('CANCELED', 'cancelled while waiting for a concurrency permit'));
    if (this.waiters.size >= this.options.maxQueue) {
      this.counters.rejected++;
      return Promise.reject(new SluiceError('OVERLOADED', `concurrency limit ${this.limit} reached and ${this.waiters.size} callers waiting; retry later`));
    }
    return new Promise<Permit>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(new SluiceError('CANCELED', 'cancelled while waiting for a concurrency permit'));
      };
      const waiter: Waiter = {
        grant: (permit) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(permit);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  private admit(): Permit {
    this.running++;
    // Whether callers were using the room they had when this call started: growth is earned only then.
    return new AdmittedCall(this, this.clock(), this.running * 2 >= this.limit);
  }

  /** @internal A permit's one report (AdmittedCall): frees its room, updates the estimate, admits waiters. */
  ended(report: 'success' | 'dropped' | 'failed' | 'ignore', started: number, limited: boolean): void {
    this.running--;
    if (report === 'success') this.onSuccess(this.clock() - started, limited);
    else if (report === 'dropped') this.onDrop(started);
    else if (report === 'failed') this.onError(started);
    this.grantWaiters();
  }

  private onSuccess(rtt: number, limited: boolean): void {
    this.counters.successes++;
    this.errorRate = ewma(this.errorRate, 0, this.options.errorWindow);
    this.samples++;
    // The first samples seed the average at once instead of dragging it up from 0.
    this.longRtt = this.samples === 1 ? rtt : ewma(this.longRtt, rtt, Math.min(this.samples, this.options.longWindow));
    const o = this.options;
    const gradient = Math.max(0.5, Math.min(1, (o.tolerance * this.longRtt) / Math.max(rtt, 1e-3)));
    // Headroom to probe for more: a queue of sqrt(limit), as the gradient limit does.
    const next = this.estimate * gradient + (limited ? Math.sqrt(this.estimate) : 0);
    if (next < this.estimate || limited) this.set(this.estimate * (1 - o.smoothing) + next * o.smoothing);
  }

  private onDrop(started: number): void {
    this.counters.drops++;
    this.cut(started);
  }

  private onError(started: number): void {
    this.counters.errors++;
    this.errorRate = ewma(this.errorRate, 1, this.options.errorWindow);
    if (this.errorRate > this.options.errorRateThreshold) this.cut(started);
  }

  /**
   * One multiplicative cut per round of calls, as TCP cuts once per window of
   * losses: calls sent before the last cut were sent under the old limit, and
   * a burst of them timing out together says one thing, not one per call.
   * (Cutting on each collapsed the limit to its minimum after one bad moment.)
   */
  private cut(started: number): void {
    if (started < this.cutAt) return;
    this.cutAt = this.clock();
    this.set(this.estimate * this.options.backoffRatio);
  }

  private set(value: number): void {
    this.estimate = Math.min(this.options.maxLimit, Math.max(this.options.minLimit, value));
  }

  private grantWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.running >= this.limit) return;
      this.waiters.delete(waiter);
      waiter.grant(this.admit());
    }
  }
}

function ewma(avg: number, sample: number, window: number): number {
  const alpha = 2 / (window + 1);
  return avg + alpha * (sample - avg);
}

function validate(o: AdaptiveLimitOptions): AdaptiveLimitOptions {
  const int = (key: keyof AdaptiveLimitOptions, min: number) => {
    if (!Number.isInteger(o[key]) || o[key] < min) throw new RangeError(`adaptive limit: ${key} must be an integer >= ${min}, got ${o[key]}`);
  };
  const between = (key: keyof AdaptiveLimitOptions, lo: number, hi: number, hiInclusive: boolean) => {
    const v = o[key];
    if (!Number.isFinite(v) || v <= lo || (hiInclusive ? v > hi : v >= hi)) throw new RangeError(`adaptive limit: ${key} must be in (${lo}, ${hi}${hiInclusive ? ']' : ')'}, got ${v}`);
  };
  int('minLimit', 1);
  int('maxLimit', 1);
  int('initialLimit', 1);
  int('maxQueue', 0);
  int('longWindow', 1);
  int('errorWindow', 1);
  if (o.maxLimit < o.minLimit) throw new RangeError(`adaptive limit: maxLimit (${o.maxLimit}) must be at least minLimit (${o.minLimit})`);
  if (o.initialLimit < o.minLimit || o.initialLimit > o.maxLimit) throw new RangeError(`adaptive limit: initialLimit must be within minLimit..maxLimit, got ${o.initialLimit}`);
  if (!Number.isFinite(o.tolerance) || o.tolerance < 1) throw new RangeError(`adaptive limit: tolerance must be >= 1, got ${o.tolerance}`);
  between('smoothing', 0, 1, true);
  between('backoffRatio', 0, 1, false);
  between('errorRateThreshold', 0, 1, true);
  return Object.freeze(o);
}

/**
 * One admitted call: a single object per permit rather than a record of four
 * closures over a shared context. A caller holds it for the whole call (a
 * saga's step waits seconds on a slow dependency), so it is among what every
 * young-generation collection of a busy caller copies.
 */
class AdmittedCall implements Permit {
  private done = false;

  constructor(
    private readonly owner: AdaptiveLimit,
    private readonly started: number,
    private readonly limited: boolean,
  ) {}

  success(): void {
    this.end('success');
  }

  dropped(): void {
    this.end('dropped');
  }

  failed(): void {
    this.end('failed');
  }

  ignore(): void {
    this.end('ignore');
  }

  private end(report: 'success' | 'dropped' | 'failed' | 'ignore'): void {
    if (this.done) return;
    this.done = true;
    this.owner.ended(report, this.started, this.limited);
  }
}
