/**
 * A service's view of the fleet: the gateways seen in the KV bucket, each
 * dropped once its entry is older than its TTL. Aging is done here, on the
 * service's own clock (time of receipt), rather than by the NATS server:
 * servers before 2.11 do not tell watchers when an entry expires, and
 * comparing the writer's clock with ours would add the skew between them.
 * Bounded: at most `maxGateways` are kept; entries beyond are ignored and
 * counted. Pure logic, clock passed in.
 */
import type { GatewayEntry } from './gateway-entry.js';

/** Default cap on gateways one service connects to. */
export const DEFAULT_MAX_GATEWAYS = 64;

export class GatewayTable {
  private readonly entries = new Map<string, { entry: GatewayEntry; seenAt: number }>();
  /** Entries ignored because the table was full. */
  ignored = 0;

  constructor(private readonly maxGateways = DEFAULT_MAX_GATEWAYS) {}

  /**
   * Records a written entry seen at `now`; false when it was ignored (table
   * full). A known gateway keeps the later of the two times: a watch made
   * again replays entries written before a renewal already counted.
   */
  put(entry: GatewayEntry, now: number): boolean {
    const held = this.entries.get(entry.id);
    if (!held && this.entries.size >= this.maxGateways) {
      this.ignored++;
      return false;
    }
    this.entries.set(entry.id, { entry, seenAt: Math.max(now, held?.seenAt ?? now) });
    return true;
  }

  /**
   * The service could not see the bucket until `now` (its watch or NATS node
   * was lost): every gateway held gets a full TTL from here. Time the service
   * was blind is not evidence that a gateway stopped renewing; one that did
   * is dropped a TTL later, and its socket closing tells sooner.
   */
  forgive(now: number): void {
    for (const held of this.entries.values()) held.seenAt = Math.max(held.seenAt, now);
  }

  /** The gateway's key was deleted (it stopped cleanly). */
  delete(id: string): void {
    this.entries.delete(id);
  }

  /** Drops entries not re-written within their TTL; returns the ids dropped. */
  prune(now: number): string[] {
    const dropped: string[] = [];
    for (const [id, { entry, seenAt }] of this.entries) {
      if (now - seenAt > entry.ttlMs) {
        this.entries.delete(id);
        dropped.push(id);
      }
    }
    return dropped;
  }

  /** One URL per live gateway (its preferred one), sorted and without duplicates. */
  urls(): string[] {
    return [...new Set([...this.entries.values()].map(({ entry }) => entry.urls[0]!))].sort();
  }

  /** Gateways held. */
  get size(): number {
    return this.entries.size;
  }

  /** The shortest TTL among the entries held; undefined when empty. */
  minTtl(): number | undefined {
    let min: number | undefined;
    for (const { entry } of this.entries.values()) min = min === undefined ? entry.ttlMs : Math.min(min, entry.ttlMs);
    return min;
  }

  /** Ms until the next entry may expire (for the prune timer); undefined when empty. */
  nextExpiry(now: number): number | undefined {
    let next: number | undefined;
    for (const { entry, seenAt } of this.entries.values()) {
      const left = Math.max(0, seenAt + entry.ttlMs - now);
      next = next === undefined ? left : Math.min(next, left);
    }
    return next;
  }
}
