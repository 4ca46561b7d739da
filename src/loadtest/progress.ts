/**
 * The live progress line. On a terminal it rewrites one line in place every
 * interval; otherwise (CI logs, pipes) it prints plain lines, less often, so
 * logs stay readable.
 */
import type { Clock } from './clock.js';
import { errorList, int, ms } from './format.js';
import type { ProgressSnapshot } from './stats.js';

/** `  12.0s  rate 10,234/s  p50 1.2 ms  p99 5.4 ms  in flight 256  errors OVERLOADED=3` */
export function formatProgress(s: ProgressSnapshot): string {
  return [
    `${(s.elapsedMs / 1000).toFixed(1).padStart(6)}s`,
    `rate ${int(s.rate)}/s`,
    `p50 ${ms(s.p50)}`,
    `p99 ${ms(s.p99)}`,
    `in flight ${int(s.inFlight)}`,
    `done ${int(s.completed)}`,
    `errors ${errorList(s.errors)}`,
  ].join('  ');
}

export interface ProgressOptions {
  /** Where lines go (process.stdout.write in the CLI); omit to print nothing. */
  write?(text: string): void;
  /** True on a terminal: one line rewritten in place. */
  tty: boolean;
  /** Receives every snapshot as numbers (the benchmarks chart them). */
  onSnapshot?(snapshot: ProgressSnapshot): void;
  /** Ms between updates. Default 1000 on a terminal, 5000 otherwise. */
  intervalMs?: number;
  clock: Clock;
  /** Reads (and starts a new interval of) the run's counters. */
  snapshot(now: number): ProgressSnapshot;
}

/** Prints progress (and hands out snapshots) until `stop()`. */
export class ProgressLine {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private printed = false;

  constructor(private readonly o: ProgressOptions) {}

  start(): void {
    const interval = this.o.intervalMs ?? (this.o.tty ? 1_000 : 5_000);
    this.loop = (async () => {
      for (;;) {
        try {
          await this.o.clock.sleep(interval, this.abort.signal);
        } catch {
          return;
        }
        const snapshot = this.o.snapshot(this.o.clock.now());
        this.o.onSnapshot?.(snapshot);
        if (this.o.write) this.print(formatProgress(snapshot));
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    // Leave the terminal on a fresh line for the report.
    if (this.o.tty && this.printed) this.o.write?.('\n');
  }

  private print(line: string): void {
    this.printed = true;
    // \r and "erase line" rewrite in place; plain lines elsewhere.
    this.o.write?.(this.o.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }
}
