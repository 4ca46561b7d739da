/**
 * A connection's open streams by id: an open-addressing table (linear
 * probing) over one array, instead of a Map.
 *
 * Why not a Map: a set and a delete per stream make V8 replace a Map's table
 * every few dozen streams, and it links each replaced table to the one that
 * replaces it (for iterators). Once one table had been promoted to the old
 * generation, that link kept every newer table, and every stream in them,
 * alive through the scavenges until the next full collection: a service or a
 * requester serving request-responses then spent several times its CPU per
 * request in the garbage collector. A plain object in dictionary mode has no
 * such link, but costs four times a Map's set and delete. Here an id costs a
 * multiplication and, at most half full, about one probe, and a replaced
 * array links to nothing.
 *
 * Ids are hashed by a random odd multiplier per table (the top bits of the
 * product), so a peer choosing its stream ids cannot aim them at one run of
 * slots; consecutive ids, the usual case, spread like any Weyl sequence.
 * Bounded by the connection's stream limits (it holds what they admit); the
 * array doubles when half full and halves when an eighth full.
 */
export class StreamTable<T extends { readonly id: number }> {
  size = 0;
  /** A power of two long; holes are free slots. */
  private slots: Array<T | undefined> = new Array<T | undefined>(8);
  private readonly salt = (Math.random() * 0x100000000) | 1;

  get(id: number): T | undefined {
    return this.slots[this.find(id)];
  }

  /** Adds `v`, whose id is not in the table. */
  add(v: T): void {
    if (++this.size * 2 > this.slots.length) this.resize(this.slots.length * 2);
    // An absent id's search ends at the free slot where it belongs.
    this.slots[this.find(v.id)] = v;
  }

  /** Removes `v` if it is the table's entry for its id. */
  delete(v: T): void {
    const s = this.slots;
    const m = s.length - 1;
    const i = this.find(v.id);
    if (s[i] !== v) return;
    s[i] = undefined;
    this.size--;
    // The entries after it in its run may have probed past it: place them again.
    for (let j = (i + 1) & m, u = s[j]; u !== undefined; j = (j + 1) & m, u = s[j]) {
      s[j] = undefined;
      s[this.find(u.id)] = u;
    }
    if (this.size * 8 < s.length && s.length > 8) this.resize(s.length / 2);
  }

  values(): T[] {
    return this.slots.filter((v): v is T => v !== undefined);
  }

  /** Where `id` is, or the free slot that ends its run. */
  private find(id: number): number {
    const s = this.slots;
    let i = this.home(id);
    while (s[i] !== undefined && s[i]!.id !== id) i = (i + 1) & (s.length - 1);
    return i;
  }

  /** The top log2(slots.length) bits of the product. */
  private home(id: number): number {
    return Math.imul(id, this.salt) >>> (Math.clz32(this.slots.length) + 1);
  }

  /** A new array of `n` slots (a power of two) holding the same entries. */
  private resize(n: number): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(n);
    for (const v of old) if (v !== undefined) this.slots[this.find(v.id)] = v;
  }
}
