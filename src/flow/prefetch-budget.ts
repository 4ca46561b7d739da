/**
 * The gateway-wide bound on bytes held for prefetch: items a producer sent
 * ahead of its consumer's demand and the gateway keeps until the consumer
 * asks. While the total is at or over the limit, no stream asks for more
 * than its consumer did (prefetch pauses, pass-through demand goes on), so
 * a crowd of stalled consumers cannot make the gateway hold more than the
 * limit plus what was already requested when it was reached.
 */
export class PrefetchBudget {
  /** Bytes held now, over every stream. */
  held = 0;

  constructor(readonly limitBytes: number) {
    if (Number.isNaN(limitBytes) || limitBytes < 0) throw new RangeError('prefetch budget must be a non-negative number of bytes');
  }

  /** Whether streams may ask ahead of their consumers now. */
  get open(): boolean {
    return this.held < this.limitBytes;
  }
}
