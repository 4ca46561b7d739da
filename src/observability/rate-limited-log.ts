/**
 * Warnings an attacker can trigger at will (refused connections, bad
 * origins) must not flood the log: per key, the first occurrence in an
 * interval is written at once and the rest are counted; the next one written
 * carries how many were left out (`suppressed`).
 */
import type { Logger } from './log.js';

/** Keys tracked at once; beyond, occurrences share one overflow key (keys are meant to be a small fixed set, such as reasons). */
const MAX_KEYS = 1_000;

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  /**
   * @param log where lines go
   * @param intervalMs at most one line per key per interval. Default 10 s.
   * @param now clock, for tests. Default Date.now.
   */
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const k = this.last.has(key) || this.last.size < MAX_KEYS ? key : '(other)';
    const t = this.now();
    const entry = this.last.get(k);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    this.last.set(k, { at: t, suppressed: 0 });
    this.log.warn(entry?.suppressed ? { ...fields, suppressed: entry.suppressed } : fields, msg);
  }
}
