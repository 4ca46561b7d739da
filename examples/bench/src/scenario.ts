/** What every benchmark scenario gets from the runner. */

export interface BenchContext {
  /** Shorter runs for local iteration: numbers are noisier and not written to BENCHMARKS.md by default. */
  readonly quick: boolean;
  /** One progress line (the runner prints it). */
  log(line: string): void;
}

/** A scenario that could not run here (a missing binary, a missing service): said plainly instead of numbers. */
export interface Unavailable {
  readonly available: false;
  readonly reason: string;
}

export function unavailable(reason: string): Unavailable {
  return { available: false, reason };
}
