/**
 * One bound on the bytes peers make a process hold, over every connection:
 * per-connection limits are each safe, but their sum is not (a thousand
 * connections each under their own cap still add up to gigabytes).
 *
 * Each place that keeps bytes on a peer's behalf (a connection's fragments
 * being reassembled, a stream's held prefetch, a connection's unflushed
 * outbound bytes, an HTTP bridge request body being read) takes a `MemoryHolder` and reports its size as it changes;
 * sums are kept incrementally, so a report costs a few additions. When the
 * total passes the limit, a check runs once at the end of the current task:
 * holders whose size can drift unreported (outbound buffers drain in the
 * kernel's time) are re-read, then the biggest holders are shed first, each
 * by its own callback, until the total is back under the limit. Only that
 * check scans the holders, and only holders that hold bytes are scanned.
 *
 * Some holders keep bytes nobody is waiting on (the response cache): they
 * count like the rest, but they give bytes back first, by `reclaim`, before
 * anything live is shed, and they do not count towards `pressure` (a full
 * cache must not pause prefetch for live streams).
 *
 * Isomorphic: no Node modules.
 */

/** What a holder keeps: the `kind` label of `sluice_memory_shed_total` and `sluice_memory_used_bytes`. */
export type MemoryKind = 'reassembly' | 'prefetch' | 'outbound' | 'http' | 'cache';

export const MEMORY_KINDS: readonly MemoryKind[] = ['reassembly', 'prefetch', 'outbound', 'http', 'cache'];

export interface MemoryHolder {
  readonly kind: MemoryKind;
  /** Bytes this holder reports now. */
  readonly bytes: number;
  /** Reports the holder's size now, in bytes. */
  set(bytes: number): void;
  /** Reports a change of `delta` bytes. */
  add(delta: number): void;
  /** Gives every byte back and leaves the budget; later reports are ignored. */
  release(): void;
}

export interface HolderOptions {
  /**
   * Frees what the holder keeps (ending the streams or the connection that
   * made it hold them) and reports 0 or releases the holder, synchronously.
   * `reason` is a sentence for the coded error the peer receives.
   */
  shed(reason: string): void;
  /** Re-reads the size, for holders whose bytes shrink without a report. */
  refresh?(): number;
  /**
   * Gives back at least `bytes` if it can (less when it holds less),
   * synchronously, reporting the new size. Holders with `reclaim` are asked
   * before any holder is shed, and their bytes do not count in `pressure`.
   */
  reclaim?(bytes: number): void;
}

export interface MemoryBudgetOptions {
  /** Called once per holder shed, after its callback ran. */
  onShed?(kind: MemoryKind, bytes: number): void;
  /** Schedules the over-budget check; default queueMicrotask (the end of the current task). */
  schedule?(fn: () => void): void;
}

class Holder implements MemoryHolder {
  bytes = 0;
  released = false;
  /**
   * Read once here rather than on every report: a stream's prefetch holder and
   * a connection's outbound holder report on every relayed item, and looking
   * the kind up by its string, or `reclaim` on options objects of many shapes,
   * made each report a megamorphic property access.
   */
  readonly kindIndex: number;
  readonly reclaimable: boolean;

  constructor(
    private readonly budget: MemoryBudget,
    readonly kind: MemoryKind,
    readonly options: HolderOptions,
  ) {
    this.kindIndex = MEMORY_KINDS.indexOf(kind);
    this.reclaimable = options.reclaim !== undefined;
  }

  set(bytes: number): void {
    this.add(bytes - this.bytes);
  }

  add(delta: number): void {
    if (this.released || delta === 0) return;
    this.bytes += delta;
    this.budget.account(this, delta);
  }

  release(): void {
    if (this.released) return;
    this.set(0);
    this.released = true;
  }
}

export class MemoryBudget {
  /** Bytes reported by every holder, now. */
  used = 0;
  /** Bytes held per kind, in the order of MEMORY_KINDS. */
  private readonly byKind: number[] = MEMORY_KINDS.map(() => 0);
  /** Bytes of holders that can give them back on demand (`reclaim`). */
  private reclaimable = 0;
  /** Holders holding at least one byte: the only ones a shed must look at. */
  private readonly holding = new Set<Holder>();
  private checkPending = false;
  private readonly schedule: (fn: () => void) => void;

  /**
   * @param limitBytes the most bytes every holder together may keep; above
   *   it the biggest holders are shed. Infinity never sheds.
   */
  constructor(
    readonly limitBytes: number,
    private readonly options: MemoryBudgetOptions = {},
  ) {
    if (Number.isNaN(limitBytes) || limitBytes < 0) throw new RangeError('memory budget must be a non-negative number of bytes');
    this.schedule = options.schedule ?? queueMicrotask;
  }

  /** Bytes held now for one kind. */
  usedBy(kind: MemoryKind): number {
    return this.byKind[MEMORY_KINDS.indexOf(kind)] ?? 0;
  }

  /** Fraction of the limit in use by what cannot be reclaimed (0 with an infinite limit). */
  get pressure(): number {
    return this.limitBytes === Infinity ? 0 : (this.used - this.reclaimable) / Math.max(1, this.limitBytes);
  }

  /** A new holder, holding nothing yet. */
  holder(kind: MemoryKind, options: HolderOptions): MemoryHolder {
    return new Holder(this, kind, options);
  }

  /** @internal A holder's size changed by `delta`. */
  account(holder: Holder, delta: number): void {
    this.used += delta;
    this.byKind[holder.kindIndex]! += delta;
    if (holder.reclaimable) this.reclaimable += delta;
    // The set changes only when a holder starts or stops holding: a stream's prefetch holder moves with every item.
    const before = holder.bytes - delta;
    if (before <= 0 && holder.bytes > 0) this.holding.add(holder);
    else if (before > 0 && holder.bytes <= 0) this.holding.delete(holder);
    if (this.used > this.limitBytes && !this.checkPending) {
      this.checkPending = true;
      this.schedule(() => this.check());
    }
  }

  /** Brings the total back under the limit: re-read drifting holders, then shed the biggest first. */
  check(): void {
    this.checkPending = false;
    if (this.used <= this.limitBytes) return;
    for (const h of [...this.holding]) if (h.options.refresh) h.set(h.options.refresh());
    this.reclaim();
    // Each round sheds one holder, so the loop ends after at most as many rounds as holders.
    for (let rounds = this.holding.size; this.used > this.limitBytes && rounds > 0; rounds--) {
      let biggest: Holder | undefined;
      for (const h of this.holding) if (!biggest || h.bytes > biggest.bytes) biggest = h;
      if (!biggest) return;
      const { kind, bytes } = biggest;
      const total = this.used;
      biggest.options.shed(`gateway memory budget: peers made it hold ${total} bytes (limit ${this.limitBytes}); the largest holder was this ${describe(kind)}, ${bytes} bytes`);
      // A holder that could not free its bytes at once leaves the budget, so the next round looks elsewhere.
      if (biggest.bytes > 0) biggest.release();
      this.options.onShed?.(kind, bytes);
    }
  }

  /** Asks reclaimable holders, biggest first, for the bytes over the limit; each is asked once. */
  private reclaim(): void {
    const asked = new Set<Holder>();
    while (this.used > this.limitBytes) {
      let biggest: Holder | undefined;
      for (const h of this.holding) if (h.options.reclaim && !asked.has(h) && (!biggest || h.bytes > biggest.bytes)) biggest = h;
      if (!biggest) return;
      asked.add(biggest);
      biggest.options.reclaim!(this.used - this.limitBytes);
    }
  }
}

function describe(kind: MemoryKind): string {
  if (kind === 'outbound') return "connection's unread outbound bytes";
  if (kind === 'reassembly') return "connection's unfinished fragmented payloads";
  if (kind === 'http') return 'HTTP request body being read';
  if (kind === 'cache') return "route's cached answers";
  return "stream's items held ahead of its consumer's demand";
}
