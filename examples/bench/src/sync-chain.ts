/**
 * The synchronous chain: checkout with inventory at 2 s latency and 20%
 * failures, open loop at fixed rates, through Sluice (`checkout.place`
 * answers once the order is durably recorded; payment and inventory follow
 * as a saga) and through three HTTP services calling each other
 * synchronously (order awaits payment awaits inventory). Both sides get the
 * same open-loop driver, rate and duration; each rate is a fresh start of
 * both (new processes, empty stores), so one point's backlog does not leak
 * into the next.
 *
 * Each side first sends `warmUpS` seconds of orders at the point's rate,
 * not counted in its latency (reported apart as `warmUpP99`): the first
 * second after a start paid for V8 compiling every process's paths and for
 * the first trips between the order service's threads, which made the p99
 * of a 10/s point (200 orders, so its 2nd slowest) a start-up figure. The
 * warm-up orders run on (their sagas overlap the measured window, the steady
 * state) and are still checked for loss and double charges.
 *
 * For runs by hand: SYNC_CHAIN_RATES=100 (comma-separated orders/s) picks
 * the rates, SYNC_CHAIN_STORE_THREADS=worker,service runs the Sluice side
 * once per place of the order store's PGlite (`--store-thread`), in the
 * same point, for an A/B; SYNC_CHAIN_ORDER_NODE_ARGS='--trace-gc ...'
 * starts the order service's process with those Node options.
 */
import { get, type Agent } from 'node:http';
import { systemClock } from '../../../src/loadtest/clock.js';
import { runRequestReply } from '../../../src/loadtest/request-reply.js';
import { RunStats } from '../../../src/loadtest/stats.js';
import { LatencyHistogram } from '../../../src/loadtest/histogram.js';
import type { ChainStats } from './peers/http-chain.js';
import { chainAgent, postJson } from './peers/http-chain.js';
import { Processes } from './processes.js';
import type { BenchContext, Unavailable } from './scenario.js';
import { runSluiceCheckout, type SluiceCheckoutResult } from './sync-chain-sluice.js';

export interface SyncChainOptions {
  /** Orders per second, open loop: each rate is one point, both sides measured at it. */
  rates: readonly number[];
  /** Sending time per point. */
  durationS: number;
  inventoryLatencyMs: number;
  inventoryFailureRate: number;
  /** How long to wait for the last answers (and, on the Sluice side, for sagas to finish) after sending. */
  drainS: number;
  /** Seconds of orders sent at the point's rate before the measured ones, not counted in latency. */
  warmUpS: number;
  /** Where the order service's store runs, one Sluice run per entry (`--store-thread`): default worker. */
  storeThreads: readonly string[];
}

/** One side of one point: what the driver sends. */
export interface ChainRun {
  rate: number;
  durationS: number;
  inventoryLatencyMs: number;
  inventoryFailureRate: number;
  drainS: number;
  warmUpS: number;
  /** The order service's `--store-thread` (absent: its default). */
  storeThread?: string;
  /** Node options for the order service's process (SYNC_CHAIN_ORDER_NODE_ARGS, for runs by hand: `--trace-gc`, `--cpu-prof`, a young-generation size). */
  orderNodeArgs?: readonly string[];
}

export function syncChainDefaults(quick: boolean): SyncChainOptions {
  return quick
    ? { rates: envList('SYNC_CHAIN_RATES')?.map(Number) ?? [25], durationS: 8, inventoryLatencyMs: 2000, inventoryFailureRate: 0.2, drainS: 10, warmUpS: 1, storeThreads: envList('SYNC_CHAIN_STORE_THREADS') ?? ['worker'] }
    : { rates: envList('SYNC_CHAIN_RATES')?.map(Number) ?? [10, 25, 50, 100], durationS: 20, inventoryLatencyMs: 2000, inventoryFailureRate: 0.2, drainS: 20, warmUpS: 2, storeThreads: envList('SYNC_CHAIN_STORE_THREADS') ?? ['worker'] };
}

function envList(name: string): string[] | undefined {
  const v = process.env[name]?.split(',').map((x) => x.trim()).filter(Boolean);
  if (v && name === 'SYNC_CHAIN_RATES' && v.some((x) => !(Number(x) > 0))) throw new Error(`${name}: expected orders/s like 10,100, got '${process.env[name]}'`);
  return v?.length ? v : undefined;
}

/** One reading of what the chain holds open, summed over its three services. */
export interface HoldingSample {
  readonly t: number;
  /** Requests received and not answered yet, over all three services. */
  readonly pending: number;
  /** Open sockets over all three services, server and client side. */
  readonly sockets: number;
}

export interface HttpChainResult {
  readonly sent: number;
  readonly ok: number;
  /** Successful orders per second of sending (all answers, including those after sending stopped). */
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  /** p99 of the warm-up orders (not in p50/p99), ms; null without a warm-up. */
  readonly warmUpP99: number | null;
  readonly errors: Readonly<Record<string, number>>;
  /** Failed / sent. */
  readonly errorRate: number;
  readonly maxPending: number;
  readonly maxSockets: number;
  readonly series: readonly HoldingSample[];
}

export interface SyncChainPoint {
  /** Orders per second offered. */
  readonly rate: number;
  readonly http: HttpChainResult;
  readonly sluice: SluiceCheckoutResult | Unavailable;
  /** With more than one store thread (SYNC_CHAIN_STORE_THREADS): the Sluice side once per thread, `sluice` being the first. */
  readonly sluiceByStoreThread?: Readonly<Record<string, SluiceCheckoutResult | Unavailable>>;
}

export interface SyncChainResult {
  readonly options: SyncChainOptions;
  readonly points: readonly SyncChainPoint[];
}

/** Demo skus from the checkout catalogue. */
export const ORDER_SKUS = ['A1', 'B2', 'C3'] as const;

/** The `checkout.place` command for order `i` of a run: unique idempotency key, one item. */
export function placeCommand(run: string, i: number): { idempotencyKey: string; customerId: string; items: Array<{ sku: string; qty: number }> } {
  return { idempotencyKey: `${run}-${i}`, customerId: `customer-${i % 100}`, items: [{ sku: ORDER_SKUS[i % ORDER_SKUS.length]!, qty: 1 }] };
}

export async function runHttpChain(ctx: BenchContext, o: ChainRun): Promise<HttpChainResult> {
  const processes = new Processes();
  const agent = chainAgent();
  const statsAgent = chainAgent();
  try {
    const inventory = await processes.peer('http-inventory', ['--latency-ms', String(o.inventoryLatencyMs), '--failure-rate', String(o.inventoryFailureRate)]);
    const payment = await processes.peer('http-payment', ['--upstream', inventory.url]);
    const order = await processes.peer('http-order', ['--upstream', payment.url]);
    const urls = [order.url, payment.url, inventory.url];
    const series: HoldingSample[] = [];
    const start = performance.now();
    const poll = setInterval(() => {
      void Promise.all(urls.map((u) => getStats(statsAgent, u)))
        .then((all) => {
          series.push({
            t: (performance.now() - start) / 1000,
            pending: all.reduce((n, s) => n + s.pending, 0),
            sockets: all.reduce((n, s) => n + s.sockets + s.upstreamSockets, 0),
          });
        })
        .catch(() => {});
    }, 500);
    const run = `http-${Date.now()}`;
    const warm = await warmUp(o, (i) => postJson(agent, `${order.url}/orders`, placeCommand(`${run}-warm`, i)));
    const stats = new RunStats(systemClock.now());
    let r;
    try {
      r = await runRequestReply({
        call: (i) => postJson(agent, `${order.url}/orders`, placeCommand(run, i)),
        rate: o.rate,
        maxInFlight: 100_000,
        count: 1e9,
        durationMs: o.durationS * 1000,
        drainMs: o.drainS * 1000,
        clock: systemClock,
        stats,
      });
    } finally {
      clearInterval(poll);
    }
    const s = stats.latency.summary();
    const failed = stats.errors.total;
    ctx.log(`HTTP chain at ${o.rate}/s: ${stats.completed} of ${stats.sent} orders confirmed, p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms, errors ${JSON.stringify(stats.errors.toJSON())}`);
    return {
      sent: stats.sent,
      ok: stats.completed,
      // Every answer over the sending time: with 2 s answers, counting only those that came back while
      // sending would undercount the chain by its own latency.
      throughput: stats.completed / (r.sendingMs / 1000),
      p50: s.p50,
      p99: s.p99,
      warmUpP99: warm.p99(),
      errors: stats.errors.toJSON(),
      errorRate: stats.sent ? failed / stats.sent : 0,
      maxPending: Math.max(0, ...series.map((x) => x.pending)),
      maxSockets: Math.max(0, ...series.map((x) => x.sockets)),
      series,
    };
  } finally {
    agent.destroy();
    statsAgent.destroy();
    await processes.stopAll();
  }
}

export async function runSyncChain(ctx: BenchContext, options: Partial<SyncChainOptions> = {}): Promise<SyncChainResult> {
  const o = { ...syncChainDefaults(ctx.quick), ...options };
  const points: SyncChainPoint[] = [];
  for (const rate of o.rates) {
    const run: ChainRun = { rate, durationS: o.durationS, inventoryLatencyMs: o.inventoryLatencyMs, inventoryFailureRate: o.inventoryFailureRate, drainS: o.drainS, warmUpS: o.warmUpS };
    const http = await runHttpChain(ctx, run);
    const byThread: Record<string, SluiceCheckoutResult | Unavailable> = {};
    const orderNodeArgs = process.env.SYNC_CHAIN_ORDER_NODE_ARGS?.split(' ').filter(Boolean);
    for (const thread of o.storeThreads) byThread[thread] = await runSluiceCheckout(ctx, { ...run, storeThread: thread, ...(orderNodeArgs?.length ? { orderNodeArgs } : {}) });
    const sluice = byThread[o.storeThreads[0]!]!;
    points.push({ rate, http, sluice, ...(o.storeThreads.length > 1 ? { sluiceByStoreThread: byThread } : {}) });
    // Without the checkout services, one point says it all.
    if (!sluice.available) break;
  }
  return { options: o, points };
}

/** The warm-up's answers: their p99 so far (ms from sending; null before any, or without a warm-up). */
export interface WarmUp {
  p99(): number | null;
}

/**
 * Sends `o.warmUpS` seconds of orders at `o.rate` through `call`, then
 * returns without waiting for their answers (they go on under the measured
 * load, and their latencies are recorded as they come).
 */
export async function warmUp(o: ChainRun, call: (i: number) => Promise<unknown>): Promise<WarmUp> {
  const latencies = new LatencyHistogram();
  let answered = 0;
  if (o.warmUpS > 0) {
    const stats = new RunStats(systemClock.now());
    const timed = (i: number) => {
      const sent = performance.now();
      return call(i).then((v) => {
        latencies.record(performance.now() - sent);
        answered++;
        return v;
      });
    };
    await runRequestReply({ call: timed, rate: o.rate, maxInFlight: 100_000, count: 1e9, durationMs: o.warmUpS * 1000, drainMs: 0, clock: systemClock, stats });
  }
  return { p99: () => (answered > 0 ? latencies.summary().p99 : null) };
}

function getStats(agent: Agent, url: string): Promise<ChainStats> {
  return new Promise((resolve, reject) => {
    const req = get(`${url}/stats`, { agent, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChainStats);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('stats timeout')));
    req.on('error', reject);
  });
}
