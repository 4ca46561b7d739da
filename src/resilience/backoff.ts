/** Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"). Isomorphic. */

export interface BackoffOptions {
  /** First delay ceiling in ms. Default 100. */
  initialDelayMs: number;
  /** Largest delay ceiling in ms. Default 5000. */
  maxDelayMs: number;
  /** Growth per attempt. Default 2. */
  multiplier: number;
}

export const defaultBackoff: BackoffOptions = { initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2 };

/** Delay before retry number `attempt` (0-based): uniform in [0, min(max, initial * multiplier^attempt)]. */
export function backoffDelay(attempt: number, options: BackoffOptions = defaultBackoff, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * Math.pow(options.multiplier, Math.min(attempt, 64)));
  return Math.floor(random() * ceiling);
}
