/**
 * Which idempotency keys may already have placed an order: a Bloom filter
 * over every key the store holds, filled when the store opens and on every
 * place. It answers "certainly not" or "perhaps": only a key it has
 * certainly never seen may be accepted from the place journal without
 * asking the store (place-journal.ts); a "perhaps" goes through the store,
 * which is exact. So a false positive costs one place its fast path, never
 * its idempotency.
 *
 * Bounded: a fixed 2 MiB of bits whatever the number of orders. With 10
 * probes the chance of a false positive is about 1 in 10^12 at 100,000 keys
 * and 1 in 3,000 at 1,000,000; past that it grows, and more places take the
 * store's path (counted in `orders.stats` as `store.journal.slowPath`).
 */

/** Bits in the filter (2^24: 2 MiB). */
const BITS_LOG2 = 24;
const MASK = (1 << BITS_LOG2) - 1;
/** Probes per key: what keeps false positives rare at a million keys. */
const PROBES = 10;

export class PlacedKeys {
  private readonly bits = new Uint32Array(1 << (BITS_LOG2 - 5));
  private n = 0;

  /** Keys added (a key added twice counts twice). */
  get size(): number {
    return this.n;
  }

  /**
   * Adds the key whose SHA-256 digest starts with `hex` (at least 16 hex
   * digits: the order id is made from the same digest, see orderIdFor).
   */
  add(hex: string): void {
    const [h1, h2] = halves(hex);
    for (let i = 0, h = h1; i < PROBES; i++, h = (h + h2) >>> 0) {
      const bit = h & MASK;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.n++;
  }

  /** False when the key was certainly never added; true when it perhaps was. */
  mayHave(hex: string): boolean {
    const [h1, h2] = halves(hex);
    for (let i = 0, h = h1; i < PROBES; i++, h = (h + h2) >>> 0) {
      const bit = h & MASK;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two independent 32-bit hashes from a digest's first 16 hex digits; the step is odd, so probes do not repeat early. */
function halves(hex: string): [number, number] {
  if (hex.length < 16) throw new Error(`placed keys: a digest of at least 16 hex digits is needed, got '${hex}'`);
  return [Number.parseInt(hex.slice(0, 8), 16) >>> 0, (Number.parseInt(hex.slice(8, 16), 16) | 1) >>> 0];
}
