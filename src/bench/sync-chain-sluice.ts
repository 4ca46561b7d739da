/**
 * The Sluice side of the synchronous-chain comparison: `checkout.place`
 * through the gateway to the checkout services (order, payment, inventory).
 * Filled in once the checkout services are on main; until then it reports
 * that they are not available instead of inventing numbers.
 */
import type { MemorySample, MemorySummary } from '../loadtest/metrics-scraper.js';
import type { BenchContext, Unavailable } from './scenario.js';
import { unavailable } from './scenario.js';
import type { SyncChainOptions } from './sync-chain.js';

export interface SluiceCheckoutResult {
  readonly available: true;
  readonly sent: number;
  /** `checkout.place` answered with an order id. */
  readonly accepted: number;
  /** Accepted orders per second while sending. */
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly errorRate: number;
  /** Accepted orders by final status once their sagas ended (CONFIRMED, CANCELLED, ...). */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Accepted orders the order service does not know: lost. */
  readonly lost: number;
  /** Accepted orders still running when the drain time ran out (known, not lost). */
  readonly unfinished: number;
  readonly memory: MemorySummary | null;
  readonly memorySeries: readonly MemorySample[];
  /** Interactions in flight at the gateway over time (its /metrics), next to the HTTP chain's pending requests. */
  readonly series: ReadonlyArray<{ readonly t: number; readonly pending: number }>;
}

export async function runSluiceCheckout(_ctx: BenchContext, _o: SyncChainOptions): Promise<SluiceCheckoutResult | Unavailable> {
  return unavailable('checkout services not available on this branch (src/checkout/ has not landed on main yet)');
}
