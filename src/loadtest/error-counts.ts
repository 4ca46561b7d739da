/**
 * Errors by code. Sluice failures carry a stable code (SluiceError.code);
 * anything else is counted under a code the load tester names, so the report
 * never has an unlabelled bucket.
 */
import { isSluiceError } from '../errors.js';

/** Failures of the load tester's own making, next to the Sluice codes. */
export const LoadtestCodes = {
  /** The request was still unanswered when the run's drain time ran out. */
  UNFINISHED: 'UNFINISHED',
  /** Open loop only: the send was due while `maxInFlight` requests were already waiting; it was not sent. */
  MAX_IN_FLIGHT: 'MAX_IN_FLIGHT',
  /** Channel: an item sent and never acknowledged (its channel failed, or the drain time ran out). */
  UNACKED: 'UNACKED',
  /** Channel: an item skipped by the acknowledgement of a later one. */
  MISSING_ACK: 'MISSING_ACK',
  /** A failure with no Sluice code (a bug, or a transport the client does not know). */
  UNKNOWN: 'UNKNOWN',
} as const;

/** The code to count `err` under. */
export function codeOf(err: unknown): string {
  if (isSluiceError(err)) return err.code;
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') return (err as { code: string }).code;
  return LoadtestCodes.UNKNOWN;
}

export class ErrorCounts {
  private readonly counts = new Map<string, number>();

  add(code: string, n = 1): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + n);
  }

  get total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }

  /** Codes and counts, most frequent first (ties by code), as a plain object for JSON. */
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
  }
}
