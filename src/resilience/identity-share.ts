/**
 * Each identity's share of one bulkhead: at most `limit` of its slots (held
 * or waited for) per identity. A bulkhead alone is first come, first served,
 * so one client opening enough interactions takes every slot and every other
 * client is refused; a share caps what any one identity can hold, leaving the
 * rest of the route to the others. Isomorphic, like the bulkhead it guards.
 *
 * Memory: one map entry per identity holding at least one slot, removed when
 * its count drops to 0, so the map never has more entries than there are
 * interactions holding or waiting for the bulkhead (bounded by its
 * `maxConcurrent + maxQueue`, plus those being refused at this moment).
 */
import type { Release } from './bulkhead.js';

export class IdentityShare {
  /** Takes refused because the identity held its whole share. */
  rejected = 0;
  private readonly holders = new Map<string, number>();

  /** @param limit Most slots one identity may hold or wait for at once (an integer >= 1). */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`identity share: limit must be an integer >= 1, got ${limit}`);
  }

  /** Identities holding at least one slot. */
  get identities(): number {
    return this.holders.size;
  }

  /** Slots `identity` holds now. */
  heldBy(identity: string): number {
    return this.holders.get(identity) ?? 0;
  }

  /** One more slot for `identity`, or undefined (counted in `rejected`) when it holds its whole share. */
  tryTake(identity: string): Release | undefined {
    if (!this.tryEnter(identity)) return undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leave(identity);
    };
  }

  /**
   * `tryTake` without a release function, for holders that keep many slots
   * for long (a gateway's open streams): true when taken (false is counted in
   * `rejected`). The caller must call `leave(identity)` exactly once for each true.
   */
  tryEnter(identity: string): boolean {
    const held = this.heldBy(identity);
    if (held >= this.limit) {
      this.rejected++;
      return false;
    }
    this.holders.set(identity, held + 1);
    return true;
  }

  /** Gives back a slot taken by `tryEnter`. */
  leave(identity: string): void {
    const n = this.heldBy(identity) - 1;
    if (n > 0) this.holders.set(identity, n);
    else this.holders.delete(identity);
  }
}

/**
 * The share that a `maxPerIdentity` setting gives on a bulkhead of
 * `maxConcurrent` slots: a value below 1 is a fraction of it (rounded down,
 * at least 1), a value of 1 or more a count. A count of at least
 * `maxConcurrent + maxQueue` never binds: the bulkhead refuses first.
 */
export function shareLimit(maxPerIdentity: number, maxConcurrent: number): number {
  return maxPerIdentity < 1 ? Math.max(1, Math.floor(maxPerIdentity * maxConcurrent)) : Math.floor(maxPerIdentity);
}
