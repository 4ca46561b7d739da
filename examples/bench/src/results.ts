/** Everything one `npm run bench` produced: typed, written to docs/bench/results.json and rendered into BENCHMARKS.md. */
import type { Across } from './across-runs.js';
import type { AuthCostResult } from './auth-cost.js';
import type { DurableCostResult } from './durable-cost.js';
import type { FleetBenchResult } from './fleet.js';
import type { FloodResult } from './flood.js';
import type { HopCostResult } from './hop-cost.js';
import type { Machine } from './machine.js';
import type { NatsCompareResult } from './nats-compare.js';
import type { ScaleResult } from './scale.js';
import type { SyncChainResult } from './sync-chain.js';
import type { TransportResult } from './transport-limit.js';

export const SCENARIOS = ['hop-cost', 'transport', 'nats', 'sync-chain', 'flood', 'scale', 'auth', 'durable', 'fleet'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** A scenario's result, or why it has none. */
export type Outcome<T> = { readonly ok: true; readonly result: T; readonly seconds: number } | { readonly ok: false; readonly error: string; readonly seconds: number };

export interface BenchResults {
  readonly startedAt: string;
  readonly quick: boolean;
  readonly machine: Machine;
  readonly loadAtEnd: number;
  readonly totalSeconds: number;
  readonly hopCost?: Outcome<HopCostResult>;
  readonly transport?: Outcome<TransportResult>;
  readonly nats?: Outcome<NatsCompareResult>;
  readonly syncChain?: Outcome<SyncChainResult>;
  readonly flood?: Outcome<FloodResult>;
  readonly scale?: Outcome<ScaleResult>;
  readonly auth?: Outcome<AuthCostResult>;
  readonly durable?: Outcome<DurableCostResult>;
  readonly fleet?: Outcome<FleetBenchResult>;
  /**
   * The same scenarios run again on other Node versions (`--nodes 20,24`),
   * each a complete run of its own: rendered as extra columns of the
   * Targets table, side by side with this run's.
   */
  readonly otherNodes?: readonly BenchResults[];
  /**
   * Complete runs judged together, this one among them (\`--render FILE
   * --across ...\`): every figure's value in each and its median. Kept as
   * figures, not whole runs, so results.json stays one run's raw numbers.
   */
  readonly across?: Across;
}
