/**
 * A count-based circuit breaker (the Resilience4j model): judge the last
 * `windowSize` calls, open when too many failed or were slow, let
 * `halfOpenMaxCalls` probes through after `openDurationMs`, and judge them by
 * the same thresholds: close when their failure and slow-call rates stay below
 * them, open again as soon as either reaches its threshold. (Requiring every
 * probe to succeed made a dependency failing 20% of calls, well under the 50%
 * that opens the breaker, pass a round of 3 probes only half the time: the
 * breaker stayed open most of the time for a dependency it should not fence.)
 * Isomorphic; the same instance serves the gateway's forwarder and the
 * `circuitBreaker` RxJS operator.
 *
 * ```
 *   closed ──(rate >= threshold, >= minimumCalls)──▶ open ──(openDurationMs)──▶ half-open
 *     ▲                                               ▲                            │
 *     └──(probes done, rates below thresholds)────────┼────────────────────────────┤
 *                                                     └──(probe rate >= threshold)─┘
 * ```
 *
 * The caller reports every admitted call exactly once: `onSuccess`,
 * `onFailure`, or `release` when it ended neither way (cancelled). Results are
 * not tied to the call that was admitted, so a call admitted while closed that
 * ends after the breaker opened is counted in `counters` but does not move the
 * state: while open such results are ignored, and while half-open a result
 * only counts as a probe's when a probe is in flight.
 */
import { systemClock, type Clock } from './clock.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Calls in the count-based sliding window (the last N calls are judged). Default 20. */
  windowSize: number;
  /** Calls the window must hold before rates are judged, so 1 failure of 1 call does not open. 1..windowSize. Default 10. */
  minimumCalls: number;
  /** Failed calls / calls in the window, 0 (exclusive) to 1; the breaker opens at or above it. Default 0.5. */
  failureRateThreshold: number;
  /** A call taking at least this many ms counts as slow (success or failure). Default 2000. */
  slowCallDurationMs: number;
  /**
   * Slow calls / calls in the window, 0 (exclusive) to 1; the breaker opens at
   * or above it, which catches a dependency that degrades without failing.
   * Default 0.8 (1 opens only when every call in the window is slow).
   */
  slowCallRateThreshold: number;
  /** Time in ms the breaker stays open, rejecting every call, before it lets probes through. Default 5000. */
  openDurationMs: number;
  /**
   * Probe calls admitted while half-open; all of them must succeed and not be
   * slow to close the breaker, any failed or slow one re-opens it. Default 3.
   */
  halfOpenMaxCalls: number;
}

export const defaultBreakerOptions: CircuitBreakerOptions = {
  windowSize: 20,
  minimumCalls: 10,
  failureRateThreshold: 0.5,
  slowCallDurationMs: 2_000,
  slowCallRateThreshold: 0.8,
  openDurationMs: 5_000,
  halfOpenMaxCalls: 3,
};

const FAILED = 1;
const SLOW = 2;

export class CircuitBreaker {
  readonly options: CircuitBreakerOptions;
  /** The clock durations and the open period are measured with (ms, monotonic). */
  readonly clock: Clock;
  /**
   * `opened`: transitions to open; `rejected`: tryAcquire refusals;
   * `successes` / `failures`: reported outcomes; `slow`: reported calls at
   * least `slowCallDurationMs` long (a slow failure counts in both).
   */
  readonly counters = { opened: 0, rejected: 0, successes: 0, failures: 0, slow: 0 };
  /** Called after every state change (never for the same state); must not throw. */
  onStateChange?: (from: BreakerState, to: BreakerState) => void;

  private current: BreakerState = 'closed';
  /** Ring buffer of the last `windowSize` outcomes as FAILED | SLOW bits. */
  private readonly window: Uint8Array;
  private next = 0;
  private calls = 0;
  private failed = 0;
  private slowCalls = 0;
  private openedAt = 0;
  /** Half-open: probes admitted and not yet reported, and probes that succeeded. */
  private probesInFlight = 0;
  /** Probes judged in this half-open round, and how many of them failed or were slow. */
  private probesDone = 0;
  private probesFailed = 0;
  private probesSlow = 0;

  constructor(options: Partial<CircuitBreakerOptions> = {}, clock: Clock = systemClock) {
    this.options = validate({ ...defaultBreakerOptions, ...options });
    this.clock = clock;
    this.window = new Uint8Array(this.options.windowSize);
  }

  /** The current state; an open breaker whose open period has passed becomes half-open here. */
  get state(): BreakerState {
    if (this.current === 'open' && this.clock() - this.openedAt >= this.options.openDurationMs) this.transition('half-open');
    return this.current;
  }

  /** Admits a call: always while closed, never while open, up to `halfOpenMaxCalls` probes while half-open. */
  tryAcquire(): boolean {
    switch (this.state) {
      case 'closed':
        return true;
      case 'half-open':
        if (this.probesInFlight + this.probesDone < this.options.halfOpenMaxCalls) {
          this.probesInFlight++;
          return true;
        }
        break;
      case 'open':
        break;
    }
    this.counters.rejected++;
    return false;
  }

  /** An admitted call succeeded after `durationMs`; a slow success counts against the slow-call rate. */
  onSuccess(durationMs: number): void {
    this.counters.successes++;
    this.record(false, durationMs);
  }

  /** An admitted call failed after `durationMs`. */
  onFailure(durationMs: number): void {
    this.counters.failures++;
    this.record(true, durationMs);
  }

  /** An admitted call ended neither way (cancelled): frees its half-open probe slot without judging it. */
  release(): void {
    if (this.state === 'half-open' && this.probesInFlight > 0) this.probesInFlight--;
  }

  /** Ms until an open breaker lets probes through (rounded up); 0 unless open. */
  remainingOpenMs(): number {
    if (this.state !== 'open') return 0;
    return Math.max(0, Math.ceil(this.openedAt + this.options.openDurationMs - this.clock()));
  }

  private record(failed: boolean, durationMs: number): void {
    const slow = durationMs >= this.options.slowCallDurationMs;
    if (slow) this.counters.slow++;
    switch (this.state) {
      case 'open':
        return; // a call admitted before the breaker opened: nothing to judge now
      case 'half-open':
        if (this.probesInFlight === 0) return; // likewise, not a probe
        this.probesInFlight--;
        this.judgeProbe(failed, slow);
        return;
      case 'closed':
        this.push((failed ? FAILED : 0) | (slow ? SLOW : 0));
        if (this.calls >= this.options.minimumCalls && (this.failed / this.calls >= this.options.failureRateThreshold || this.slowCalls / this.calls >= this.options.slowCallRateThreshold)) {
          this.open();
        }
    }
  }

  /** One half-open probe's result: open once a rate reaches its threshold over the round, close when the round ends below. */
  private judgeProbe(failed: boolean, slow: boolean): void {
    const { halfOpenMaxCalls: round, failureRateThreshold, slowCallRateThreshold } = this.options;
    this.probesDone++;
    if (failed) this.probesFailed++;
    if (slow) this.probesSlow++;
    if (this.probesFailed / round >= failureRateThreshold || this.probesSlow / round >= slowCallRateThreshold) {
      this.open();
    } else if (this.probesDone >= round) {
      this.resetWindow();
      this.transition('closed');
    }
  }

  private push(outcome: number): void {
    if (this.calls === this.window.length) {
      const evicted = this.window[this.next]!;
      if (evicted & FAILED) this.failed--;
      if (evicted & SLOW) this.slowCalls--;
    } else {
      this.calls++;
    }
    this.window[this.next] = outcome;
    if (outcome & FAILED) this.failed++;
    if (outcome & SLOW) this.slowCalls++;
    this.next = (this.next + 1) % this.window.length;
  }

  private resetWindow(): void {
    this.window.fill(0);
    this.next = this.calls = this.failed = this.slowCalls = 0;
  }

  private open(): void {
    this.openedAt = this.clock();
    this.counters.opened++;
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.current;
    this.current = to;
    this.probesInFlight = this.probesDone = this.probesFailed = this.probesSlow = 0;
    if (from !== to) this.onStateChange?.(from, to);
  }
}

function validate(o: CircuitBreakerOptions): CircuitBreakerOptions {
  const integer = (key: keyof CircuitBreakerOptions, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = o[key];
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`circuit breaker: ${key} must be an integer from ${min} to ${max}, got ${v}`);
  };
  const rate = (key: 'failureRateThreshold' | 'slowCallRateThreshold') => {
    const v = o[key];
    if (!(v > 0 && v <= 1)) throw new RangeError(`circuit breaker: ${key} must be a rate in (0, 1], got ${v}`);
  };
  const duration = (key: 'slowCallDurationMs' | 'openDurationMs') => {
    const v = o[key];
    if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`circuit breaker: ${key} must be a finite number of ms >= 0, got ${v}`);
  };
  integer('windowSize', 1, 100_000);
  integer('minimumCalls', 1, o.windowSize);
  rate('failureRateThreshold');
  rate('slowCallRateThreshold');
  duration('slowCallDurationMs');
  duration('openDurationMs');
  integer('halfOpenMaxCalls', 1);
  return Object.freeze(o);
}
