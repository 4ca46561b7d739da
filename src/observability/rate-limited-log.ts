/**
 * Warnings a peer can trigger at will (refused connections, bad origins,
 * fire-and-forget frames to an unknown route, thousands of connections
 * closed for the same reason) must not flood the log: per key (a reason,
 * or a peer's address and the kind of warning), the first occurrence in an
 * interval is written at once and the rest are counted. The count is never
 * lost: it travels on the next line written for that key (`suppressed`), or,
 * when the interval ends with no further occurrence, on a line of its own.
 * Isomorphic.
 */
import type { Logger } from './log.js';

/** Keys tracked at once; beyond, occurrences share one overflow key. */
const MAX_KEYS = 1_000;

interface Entry {
  at: number;
  suppressed: number;
  /** The last suppressed occurrence, for the line that reports the count. */
  log: Logger;
  fields: Record<string, unknown>;
  msg: string;
}

export class RateLimitedLog {
  private readonly last = new Map<string, Entry>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param log where lines go (unless a call names its own logger)
   * @param intervalMs at most one line per key per interval, plus one with the count. Default 10 s.
   * @param now clock, for tests. Default Date.now.
   */
  constructor(
    private readonly log: Logger,
    readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes `msg` at warn level unless `key` was written within the interval, in which case it is counted. */
  warn(key: string, fields: Record<string, unknown>, msg: string, log: Logger = this.log): void {
    const k = this.last.has(key) || this.last.size < MAX_KEYS ? key : '(other)';
    const t = this.now();
    const entry = this.last.get(k);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      entry.log = log;
      entry.fields = fields;
      return;
    }
    this.last.set(k, { at: t, suppressed: 0, log, fields, msg });
    log.warn(entry?.suppressed ? { ...fields, suppressed: entry.suppressed } : fields, msg);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Ends the interval for every key: one line per key with a count left, stating it; then every key starts afresh. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const entries = [...this.last.values()];
    this.last.clear();
    for (const e of entries) {
      if (e.suppressed === 0) continue;
      e.log.warn({ ...e.fields, suppressed: e.suppressed }, `${e.msg} (${e.suppressed} more like this within ${this.intervalMs} ms)`);
    }
  }
}

/** The host part of a `host:port` address, the key of "one peer" (its connections share it). */
export function peerHost(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(':');
  return colon > 0 ? remoteAddress.slice(0, colon) : remoteAddress;
}
