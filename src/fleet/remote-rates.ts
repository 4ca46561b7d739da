/**
 * What the other gateways of a fleet said they are asked for, per key tag:
 * each gateway's latest rate, kept until a few of its intervals pass without
 * a new word (it died, NATS is gone, or the key went quiet there). Aged on
 * this gateway's clock at receipt, so clock skew between gateways does not
 * matter. Bounded: at most `maxKeys` tags (the least recently reported is
 * forgotten first, counted) and `maxGatewaysPerKey` gateways per tag (more
 * are ignored, counted). Pure logic, times passed in.
 */

/** Reports a gateway's numbers outlive: after this many of its intervals without one, they are dropped. */
export const STALE_AFTER_INTERVALS = 3;

interface Heard {
  perSec: number;
  /** Local time after which the number no longer counts. */
  until: number;
}

export class RemoteRates {
  /** Tags forgotten to stay within `maxKeys` while their numbers were still fresh. */
  evicted = 0;
  /** Numbers ignored because their tag already held `maxGatewaysPerKey` gateways. */
  ignored = 0;
  /** Map iteration order is insertion order: re-inserting on each report keeps the least recently reported first. */
  private readonly keys = new Map<string, Map<string, Heard>>();

  constructor(
    private readonly maxKeys: number,
    private readonly maxGatewaysPerKey = 64,
  ) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`remote rates: maxKeys must be an integer >= 1, got ${maxKeys}`);
  }

  /** Tags held now. */
  get size(): number {
    return this.keys.size;
  }

  /**
   * `gateway` said at `now` that `tag` is asked of it `perSec` times per
   * second, valid for `STALE_AFTER_INTERVALS` of its `intervalMs`. A rate of
   * 0 (the key went quiet there) forgets that gateway's number at once.
   */
  record(gateway: string, tag: string, perSec: number, intervalMs: number, now: number): void {
    let heard = this.keys.get(tag);
    if (perSec <= 0) {
      heard?.delete(gateway);
      if (heard?.size === 0) this.keys.delete(tag);
      return;
    }
    if (heard) {
      this.keys.delete(tag);
    } else {
      if (this.keys.size >= this.maxKeys) this.evictOldest(now);
      heard = new Map();
    }
    this.keys.set(tag, heard);
    if (!heard.has(gateway) && heard.size >= this.maxGatewaysPerKey) {
      this.ignored++;
      return;
    }
    heard.set(gateway, { perSec, until: now + STALE_AFTER_INTERVALS * intervalMs });
  }

  /** The sum of the fresh rates the other gateways reported for `tag`, and how many gateways they are. */
  others(tag: string, now: number): { perSec: number; gateways: number } {
    const heard = this.keys.get(tag);
    if (!heard) return NONE;
    let perSec = 0;
    let gateways = 0;
    for (const h of heard.values()) {
      if (h.until < now) continue;
      perSec += h.perSec;
      gateways++;
    }
    return gateways === 0 ? NONE : { perSec, gateways };
  }

  /** Drops numbers past their time, and tags left without any. */
  prune(now: number): void {
    for (const [tag, heard] of this.keys) {
      for (const [gateway, h] of heard) if (h.until < now) heard.delete(gateway);
      if (heard.size === 0) this.keys.delete(tag);
    }
  }

  private evictOldest(now: number): void {
    const oldest = this.keys.entries().next();
    if (oldest.done) return;
    const [tag, heard] = oldest.value;
    this.keys.delete(tag);
    if ([...heard.values()].some((h) => h.until >= now)) this.evicted++;
  }
}

const NONE = Object.freeze({ perSec: 0, gateways: 0 });
