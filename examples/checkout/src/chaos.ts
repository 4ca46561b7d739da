/**
 * Failure injection for the demo's failure story (latency and failure-rate
 * knobs of payment and inventory). Failures happen before any effect;
 * latency after the effect is committed, so a caller that gives up at its
 * deadline leaves work done behind: exactly the case idempotent steps and
 * compensation exist for.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from 'sluice';
import type { ChaosOptions } from './config.js';

export interface Chaos {
  /** Throws UNAVAILABLE with probability `failureRate`. */
  maybeFail(route: string): void;
  /** Waits `latencyMs`; rejects with CANCELED if the caller cancels first. */
  delay(signal: AbortSignal): Promise<void>;
}

export function createChaos(options: ChaosOptions, random: () => number = Math.random): Chaos {
  return {
    maybeFail(route) {
      if (options.failureRate > 0 && random() < options.failureRate) {
        throw new SluiceError('UNAVAILABLE', `${route}: simulated failure (failure rate ${options.failureRate})`);
      }
    },
    async delay(signal) {
      if (options.latencyMs <= 0) return;
      try {
        await sleep(options.latencyMs, undefined, { signal });
      } catch {
        throw new SluiceError('CANCELED', 'the caller cancelled while the answer was delayed');
      }
    },
  };
}
