/**
 * Runs the benchmark scenarios one after another (never in parallel: they
 * would measure each other), each against its baseline, then writes
 * BENCHMARKS.md, the SVG charts and the raw results. A scenario that fails
 * is recorded as failed, with its error, and the others still run.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { join } from 'node:path';
import { runAuthCost } from './auth-cost.js';
import { runDurableCost } from './durable-cost.js';
import { benchCharts } from './charts.js';
import { runFleetBench } from './fleet.js';
import { runFlood } from './flood.js';
import { runHopCost } from './hop-cost.js';
import { describeMachine, loadNow } from './machine.js';
import { benchMarkdown } from './markdown.js';
import { runNatsCompare } from './nats-compare.js';
import type { BenchResults, Outcome, ScenarioName } from './results.js';
import { SCENARIOS } from './results.js';
import { withTimeout } from './processes.js';
import { runScale } from './scale.js';
import type { BenchContext } from './scenario.js';
import { runSyncChain } from './sync-chain.js';
import { runTransportLimit } from './transport-limit.js';

/** The repository root (BENCHMARKS.md lives there). */
export const REPO_ROOT = PACKAGE_ROOT;

/** The hand-kept profile section (docs/bench/), copied into BENCHMARKS.md by each run: profiles are not part of a bench run. */
const PROFILES_FILE = 'where-the-time-goes.md';

/** Hard cap per scenario: each one bounds its own loops; this only catches a hang (a child that never answers). */
const SCENARIO_TIMEOUT_MS = 10 * 60_000;
/** The full scale scenario opens a million streams: over 16 minutes on a 2-core machine at a load average of 25. */
const FULL_SCALE_TIMEOUT_MS = 45 * 60_000;

export interface RunBenchOptions {
  /** Scenarios to run; all when omitted. */
  only?: readonly ScenarioName[];
  quick: boolean;
  log(line: string): void;
}

const TITLES: Record<ScenarioName, string> = {
  'hop-cost': 'Hop cost: bench.source through the gateway vs direct',
  transport: 'Transport limit: Sluice vs raw ws',
  nats: 'NATS: request-reply and streaming through nats-server',
  'sync-chain': 'Synchronous chain: checkout vs three HTTP services',
  flood: "Flood: producers at 10x the consumers' capacity",
  scale: 'Scale: streams and connections at the gateway',
  auth: 'Auth cost: request-response with tokens and permission checks vs auth off',
  durable: 'Durable routes: embedded and JetStream backends vs not durable, and vs nats.js on JetStream',
  fleet: 'Fleet: request-response through one gateway vs two',
};

export async function runBench(o: RunBenchOptions): Promise<BenchResults> {
  const selected = SCENARIOS.filter((s) => !o.only || o.only.includes(s));
  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  const t0 = performance.now();
  const results: Record<string, Outcome<unknown>> = {};
  for (const name of selected) {
    o.log(`\n== ${TITLES[name]}`);
    const ctx: BenchContext = { quick: o.quick, log: (line) => o.log(`   ${line}`) };
    const started = performance.now();
    try {
      const result = await withTimeout(run(name, ctx), name === 'scale' && !o.quick ? FULL_SCALE_TIMEOUT_MS : SCENARIO_TIMEOUT_MS, name);
      results[key(name)] = { ok: true, result, seconds: (performance.now() - started) / 1000 };
    } catch (err) {
      o.log(`   FAILED: ${(err as Error).message}`);
      results[key(name)] = { ok: false, error: (err as Error).message, seconds: (performance.now() - started) / 1000 };
    }
  }
  return { startedAt, quick: o.quick, machine, loadAtEnd: loadNow(), totalSeconds: (performance.now() - t0) / 1000, ...results } as BenchResults;
}

function run(name: ScenarioName, ctx: BenchContext): Promise<unknown> {
  switch (name) {
    case 'hop-cost':
      return runHopCost(ctx);
    case 'transport':
      return runTransportLimit(ctx);
    case 'nats':
      return runNatsCompare(ctx);
    case 'sync-chain':
      return runSyncChain(ctx);
    case 'flood':
      return runFlood(ctx);
    case 'scale':
      return runScale(ctx);
    case 'auth':
      return runAuthCost(ctx);
    case 'durable':
      return runDurableCost(ctx);
    case 'fleet':
      return runFleetBench(ctx);
  }
}

function key(name: ScenarioName): keyof BenchResults {
  return ({ 'hop-cost': 'hopCost', transport: 'transport', nats: 'nats', 'sync-chain': 'syncChain', flood: 'flood', scale: 'scale', auth: 'auth', durable: 'durable', fleet: 'fleet' } as const)[name];
}

/** Writes BENCHMARKS.md, docs/bench/*.svg and docs/bench/results.json under `root`; returns the paths written. */
export async function writeBenchOutputs(results: BenchResults, root = REPO_ROOT): Promise<string[]> {
  const dir = join(root, 'docs', 'bench');
  await mkdir(dir, { recursive: true });
  const charts = benchCharts(results);
  const written: string[] = [];
  for (const [file, c] of charts) {
    await writeFile(join(dir, file), c.svg);
    written.push(join('docs', 'bench', file));
  }
  await writeFile(join(dir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  written.push(join('docs', 'bench', 'results.json'));
  const profiles = await readFile(join(dir, PROFILES_FILE), 'utf8').catch(() => undefined);
  await writeFile(join(root, 'BENCHMARKS.md'), benchMarkdown(results, charts, 'docs/bench', profiles));
  written.push('BENCHMARKS.md');
  return written;
}
