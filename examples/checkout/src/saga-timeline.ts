/**
 * Where a saga's time goes: the runner notes, per saga, the time spent in
 * each phase (waiting to be taken into memory, waiting for a call permit, in
 * payment calls, in inventory calls, in backoff after a failed attempt,
 * deferred by a gateway refusal such as an open breaker), and this module
 * sums them over the sagas that ended. `orders.stats` reports the averages,
 * so the timeline of docs/checkout.md is measured, not guessed.
 */

/** Phases of a saga's life, in ms. */
export interface SagaPhases {
  /** From the order being placed until the runner took its saga into memory (it waited in the store). */
  slot: number;
  /** Waiting for a permit of the dependency's adaptive call limit. */
  queued: number;
  /** In `payment.*` calls (authorize, refund), from sending to the answer or the deadline. */
  payment: number;
  /** In `inventory.*` calls (reserve, release). */
  inventory: number;
  /** Waiting out the backoff after a failed attempt. */
  backoff: number;
  /** Waiting out a refusal by the gateway itself (open breaker, rate limit) with its "retry after" hint. */
  deferred: number;
}

export type SagaPhase = keyof SagaPhases;

const PHASES: readonly SagaPhase[] = ['slot', 'queued', 'payment', 'inventory', 'backoff', 'deferred'];

/** One saga's phases while it runs. */
export function emptyPhases(): SagaPhases {
  return { slot: 0, queued: 0, payment: 0, inventory: 0, backoff: 0, deferred: 0 };
}

/** What `orders.stats` reports under `sagas.timeline`. */
export interface TimelineSnapshot {
  /** Sagas that ended (CONFIRMED or CANCELLED) in this process. */
  readonly ended: number;
  /** Average ms per ended saga in each phase. */
  readonly avgMs: Readonly<SagaPhases>;
  /** Average ms from placing to the end, over ended sagas placed in this process. */
  readonly avgTotalMs: number;
}

/** Sums of the phases of ended sagas: a fixed handful of numbers, whatever the load. */
export class SagaTimeline {
  private ended = 0;
  private readonly sums = emptyPhases();
  private totalSum = 0;
  private totalCount = 0;

  /** A saga ended; `totalMs` is its time from placing to the end when known (placed in this process). */
  record(phases: Readonly<SagaPhases>, totalMs: number | undefined): void {
    this.ended++;
    for (const k of PHASES) this.sums[k] += phases[k];
    if (totalMs !== undefined) {
      this.totalSum += totalMs;
      this.totalCount++;
    }
  }

  snapshot(): TimelineSnapshot {
    const avg = emptyPhases();
    for (const k of PHASES) avg[k] = this.ended ? Math.round(this.sums[k] / this.ended) : 0;
    return { ended: this.ended, avgMs: avg, avgTotalMs: this.totalCount ? Math.round(this.totalSum / this.totalCount) : 0 };
  }
}
