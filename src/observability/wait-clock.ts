/**
 * Whom a stream is waiting on, timed cheaply: one clock that runs for
 * whichever side the stream waits on, read only when that changes (an item
 * spent the last credit, demand arrived), never per item on a timer. The
 * gateway's interaction spans and the services' request spans both use it,
 * so "waited on the consumer" means the same thing at every hop.
 */

/** Who a stream waits on now: its consumer's demand, its producer's next item, or neither. */
export type Waiting = 'nobody' | 'consumer' | 'producer';

export class WaitClock {
  private waiting: Waiting = 'nobody';
  private since = 0;
  /** Time waited on the consumer's demand so far, in ms. */
  consumerMs = 0;
  /** Time waited on the producer's next item so far, in ms. */
  producerMs = 0;

  /**
   * The stream now waits on its producer when the consumer has demand left
   * (it asked and nothing is there to give it), else on its consumer (items
   * could flow but nobody asked).
   */
  wait(consumerHasDemand: boolean): void {
    this.switchTo(consumerHasDemand ? 'producer' : 'consumer');
  }

  /** Nobody is waited on (no upstream yet, a retry backoff, or the end). */
  stop(): void {
    this.switchTo('nobody');
  }

  private switchTo(next: Waiting): void {
    if (next === this.waiting) return;
    const now = performance.now();
    if (this.waiting === 'consumer') this.consumerMs += now - this.since;
    else if (this.waiting === 'producer') this.producerMs += now - this.since;
    this.waiting = next;
    this.since = now;
  }
}

/** Milliseconds rounded to the microsecond, as span attributes carry them. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
