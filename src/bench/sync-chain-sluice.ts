/**
 * The Sluice side of the synchronous-chain comparison: `checkout.place`
 * through the gateway to the checkout services (order, payment, inventory,
 * each its own process on a fresh data directory, with their default
 * limits), inventory slowed and failing like the HTTP chain's. `checkout.place` answers once the order is
 * durably recorded; payment and inventory follow as a saga. After sending,
 * every accepted order is looked up (`orders.get`) until its saga has ended
 * or the drain time runs out: one the order service does not know is lost.
 *
 * When the checkout services are not there (`sluice service order` unknown,
 * or no instance serves `checkout.place`), the result says so instead of
 * producing numbers.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../../clients/node/index.js';
import { isSluiceError } from '../errors.js';
import { packagePath } from '../paths.js';
import { systemClock } from '../loadtest/clock.js';
import { MemorySampler, summarizeMemory, type MemorySample, type MemorySummary } from '../loadtest/metrics-scraper.js';
import { runRequestReply } from '../loadtest/request-reply.js';
import { RunStats } from '../loadtest/stats.js';
import { Processes } from './processes.js';
import { sumMetric } from './scale.js';
import type { BenchContext, Unavailable } from './scenario.js';
import { unavailable } from './scenario.js';
import { checkoutPolicies, policyFlags } from '../checkout/gateway-policies.js';
import { placeCommand, type ChainRun } from './sync-chain.js';

export interface SluiceCheckoutResult {
  readonly available: true;
  readonly sent: number;
  /** `checkout.place` answered with an order id. */
  readonly accepted: number;
  /** Accepted orders per second of sending (all answers). */
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly errorRate: number;
  /** Accepted orders by final status once their sagas ended (CONFIRMED, CANCELLED), and PENDING if still running. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Cancelled orders by the error code their reason ends with (e.g. CIRCUIT_OPEN, UNAVAILABLE), from `orders.get`. */
  readonly cancelledBy: Readonly<Record<string, number>>;
  /** Accepted orders the order service does not know: lost. */
  readonly lost: number;
  /** Accepted orders still running when the drain time ran out (known, not lost). */
  readonly unfinished: number;
  /** Seconds from the end of sending until every accepted order's saga had ended (null: not within the drain time). */
  readonly settledAfterS: number | null;
  readonly memory: MemorySummary | null;
  readonly memorySeries: readonly MemorySample[];
  /** Interactions in flight at the gateway over time (its /metrics), next to the HTTP chain's pending requests. */
  readonly series: ReadonlyArray<{ readonly t: number; readonly pending: number }>;
}

export async function runSluiceCheckout(ctx: BenchContext, o: ChainRun): Promise<SluiceCheckoutResult | Unavailable> {
  const processes = new Processes();
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-checkout-'));
  let client: Client | undefined;
  let sampler: MemorySampler | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;
  try {
    if (!existsSync(packagePath('src', 'checkout', 'order-service.ts'))) {
      return unavailable('checkout services not available: src/checkout/ (order, payment, inventory) is not on this branch yet');
    }
    // The demo's gateway policies: the product as `npm start` runs it.
    const gw = await processes.gateway(policyFlags(checkoutPolicies));
    try {
      const common = ['--data-dir', dataDir];
      await processes.service('inventory', gw.url, 'inventory-1', [...common, '--latency-ms', String(o.inventoryLatencyMs), '--failure-rate', String(o.inventoryFailureRate)]);
      await processes.service('payment', gw.url, 'payment-1', common);
      // The order service's own defaults (work queue, saga limit): the product as shipped.
      await processes.service('order', gw.url, 'order-1', common);
    } catch (err) {
      return unavailable(`checkout services did not start: ${(err as Error).message}`);
    }
    client = await connect({ url: gw.url });
    const c = client;
    const probe = await c.requestResponse('orders.stats', {}).catch((err: unknown) => err);
    if (isSluiceError(probe) && probe.code === 'NO_ROUTE') return unavailable(`checkout services not available: ${probe.message}`);

    sampler = new MemorySampler({ adminUrl: gw.adminUrl, clock: systemClock, intervalMs: 1_000 });
    sampler.start();
    const series: Array<{ t: number; pending: number }> = [];
    const start = performance.now();
    poll = setInterval(() => {
      fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.text())
        .then((text) => series.push({ t: (performance.now() - start) / 1000, pending: sumMetric(text, 'sluice_streams_active') }))
        .catch(() => {});
    }, 500);

    const stats = new RunStats(systemClock.now());
    const run = `sluice-${Date.now()}`;
    const accepted = new Set<string>();
    const r = await runRequestReply({
      call: async (i) => {
        const answer = await c.requestResponse<{ orderId: string; status: string }>('checkout.place', placeCommand(run, i));
        accepted.add(answer.orderId);
        return answer;
      },
      rate: o.rate,
      maxInFlight: 100_000,
      count: 1e9,
      durationMs: o.durationS * 1000,
      drainMs: 30_000,
      clock: systemClock,
      stats,
    });
    // The series covers the load and its answers only: the lookups below are the bench's own traffic.
    clearInterval(poll);
    poll = undefined;
    const s = stats.latency.summary();
    ctx.log(`Sluice at ${o.rate}/s: ${accepted.size} of ${stats.sent} orders accepted, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, errors ${JSON.stringify(stats.errors.toJSON())}`);

    // Every accepted order must be known to the order service; wait (bounded) for the sagas to end.
    const sentEnd = performance.now();
    const deadline = sentEnd + o.drainS * 1000;
    let views = await lookUp(c, [...accepted]);
    let settledAfterS: number | null = null;
    for (;;) {
      const pending = [...views.values()].filter((v) => v.status === 'PENDING').length;
      if (pending === 0) {
        settledAfterS = (performance.now() - sentEnd) / 1000;
        break;
      }
      if (performance.now() >= deadline) break;
      ctx.log(`  ${pending} accepted orders still running`);
      await new Promise((res) => setTimeout(res, 2_000));
      views = new Map([...views, ...(await lookUp(c, [...views].filter(([, v]) => v.status === 'PENDING').map(([id]) => id)))]);
    }
    const samples = await sampler.stop();
    sampler = undefined;
    const outcomes: Record<string, number> = {};
    const cancelledBy: Record<string, number> = {};
    for (const v of views.values()) {
      if (v.status === 'UNKNOWN') continue;
      outcomes[v.status] = (outcomes[v.status] ?? 0) + 1;
      if (v.status === 'CANCELLED') cancelledBy[reasonCode(v.reason)] = (cancelledBy[reasonCode(v.reason)] ?? 0) + 1;
    }
    const lost = [...views.values()].filter((v) => v.status === 'UNKNOWN').length;
    const unfinished = outcomes.PENDING ?? 0;
    ctx.log(`Sluice: accepted orders ${JSON.stringify(outcomes)}, ${lost} lost${settledAfterS !== null ? `, all settled ${settledAfterS.toFixed(1)} s after sending stopped` : ''}`);
    return {
      available: true,
      sent: stats.sent,
      accepted: accepted.size,
      throughput: stats.completed / (r.sendingMs / 1000),
      p50: s.p50,
      p99: s.p99,
      errors: stats.errors.toJSON(),
      errorRate: stats.sent ? stats.errors.total / stats.sent : 0,
      outcomes,
      cancelledBy,
      lost,
      unfinished,
      settledAfterS,
      memory: summarizeMemory(samples) ?? null,
      memorySeries: samples,
      series,
    };
  } finally {
    if (poll) clearInterval(poll);
    await sampler?.stop();
    client?.close();
    await processes.stopAll();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** What `orders.get` says about one order: its status (UNKNOWN when the order service does not know it) and why it was cancelled. */
interface Looked {
  readonly status: string;
  readonly reason?: string;
}

/** Each order's view (`orders.get`), 64 lookups at a time. */
async function lookUp(client: Client, ids: readonly string[]): Promise<Map<string, Looked>> {
  const out = new Map<string, Looked>();
  for (let i = 0; i < ids.length; i += 64) {
    await Promise.all(
      ids.slice(i, i + 64).map(async (orderId) => {
        try {
          const view = await client.requestResponse<{ status: string; reason?: string }>('orders.get', { orderId });
          out.set(orderId, view.reason ? { status: view.status, reason: view.reason } : { status: view.status });
        } catch (err) {
          // "no order": the order service does not know it. Anything else (a timeout) is asked again next round.
          out.set(orderId, { status: isSluiceError(err) && err.code === 'INVALID_ARGUMENT' ? 'UNKNOWN' : 'PENDING' });
        }
      }),
    );
  }
  return out;
}

/** The last error code named in a cancellation reason (`... (last: CIRCUIT_OPEN: ...)`), or OTHER. */
export function reasonCode(reason: string | undefined): string {
  const codes = reason?.match(/\b[A-Z][A-Z_]{3,}(?=:)/g);
  return codes?.at(-1) ?? 'OTHER';
}
