/**
 * The gateway-wide bound on bytes held for prefetch: items a producer sent
 * ahead of its consumer's demand and the gateway keeps until the consumer
 * asks. While the total is at or over the limit, no stream asks for more
 * than its consumer did (prefetch pauses, pass-through demand goes on), so
 * a crowd of stalled consumers cannot make the gateway hold more than the
 * limit plus what was already requested when it was reached.
 *
 * Prefetch is the one use of memory that costs nothing to give up, so it
 * also pauses while the gateway-wide memory budget is half used: the budget
 * then sheds holders only for what peers force on it, not for what the
 * gateway chose to ask for.
 */
import type { MemoryBudget } from '../rsocket/memory-budget.js';

/** Share of the memory budget in use above which prefetch pauses. */
export const PREFETCH_MEMORY_PRESSURE = 0.5;

export class PrefetchBudget {
  /** Bytes held now, over every stream. */
  held = 0;

  constructor(
    readonly limitBytes: number,
    private readonly memory?: MemoryBudget,
  ) {
    if (Number.isNaN(limitBytes) || limitBytes < 0) throw new RangeError('prefetch budget must be a non-negative number of bytes');
  }

  /** Whether streams may ask ahead of their consumers now. */
  get open(): boolean {
    return this.held < this.limitBytes && (!this.memory || this.memory.pressure < PREFETCH_MEMORY_PRESSURE);
  }
}
