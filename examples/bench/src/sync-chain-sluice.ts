/**
 * The Sluice side of the synchronous-chain comparison: `checkout.place`
 * through the gateway to the checkout services (order, payment, inventory,
 * each its own process on a fresh data directory, with their default
 * limits), inventory slowed and failing like the HTTP chain's. `checkout.place` answers once the order is
 * durably recorded; payment and inventory follow as a saga. The backlog
 * (orders accepted and not yet ended) is read from `orders.stats` once a
 * second, during sending and until it is empty or the drain time runs out.
 * Then every accepted order is looked up once (`orders.get`): one the order
 * service does not know is lost; a CONFIRMED one gives its time from placing
 * to confirmation. Last, each order's ledger (`payment.get`) is checked for a
 * second charge.
 *
 * When the checkout services are not there (`sluice service order` unknown,
 * or no instance serves `checkout.place`), the result says so instead of
 * producing numbers.
 */
import { existsSync } from 'node:fs';
import { packagePath } from '../../../src/paths.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from 'sluice/client';
import { isSluiceError } from 'sluice';
import { systemClock } from '../../../src/loadtest/clock.js';
import { MemorySampler, summarizeMemory, type MemorySample, type MemorySummary } from '../../../src/loadtest/metrics-scraper.js';
import { runRequestReply } from '../../../src/loadtest/request-reply.js';
import { LatencyHistogram } from '../../../src/loadtest/histogram.js';
import { RunStats } from '../../../src/loadtest/stats.js';
import { Processes } from './processes.js';
import { cpuSeconds } from './proc-cpu.js';
import { sumMetric } from './scale.js';
import type { BenchContext, Unavailable } from './scenario.js';
import { unavailable } from './scenario.js';
import { prepareStoreDirs } from '../../checkout/src/db.js';
import { checkoutPolicies, policyFlags } from '../../checkout/src/gateway-policies.js';
import { silentLogger } from 'sluice';
import { placeCommand, warmUp, type ChainRun } from './sync-chain.js';
import type { GcPauseStats } from '../../checkout/src/gc-pauses.js';

export interface SluiceCheckoutResult {
  readonly available: true;
  readonly sent: number;
  /** `checkout.place` answered with an order id. */
  readonly accepted: number;
  /** Accepted orders per second of sending (all answers). */
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  /** p99 of the warm-up orders (not in p50/p99), ms; null without a warm-up. */
  readonly warmUpP99: number | null;
  /** Where the order service's store ran (`--store-thread`). */
  readonly storeThread: string;
  readonly errors: Readonly<Record<string, number>>;
  readonly errorRate: number;
  /** Accepted orders by final status once their sagas ended (CONFIRMED, CANCELLED), and PENDING if still running. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Cancelled orders by the error code their reason ends with (e.g. CIRCUIT_OPEN, UNAVAILABLE), from `orders.get`. */
  readonly cancelledBy: Readonly<Record<string, number>>;
  /** Accepted orders the order service does not know: lost (warm-up orders included). */
  readonly lost: number;
  /** Accepted orders still running when the drain time ran out (known, not lost). */
  readonly unfinished: number;
  /** Seconds from the end of sending until every accepted order's saga had ended (null: not within the drain time). */
  readonly settledAfterS: number | null;
  readonly memory: MemorySummary | null;
  readonly memorySeries: readonly MemorySample[];
  /** Interactions in flight at the gateway over time (its /metrics), next to the HTTP chain's pending requests. */
  readonly series: ReadonlyArray<{ readonly t: number; readonly pending: number }>;
  /** Accepted orders CONFIRMED by the end of the drain. */
  readonly confirmed: number;
  /** Accepted orders CONFIRMED at most 10 s after sending stopped. */
  readonly confirmedWithin10s: number;
  /** Confirmed orders per second of sending (all confirmations until the drain ended, like the chain's answers). */
  readonly confirmedPerSec: number;
  /** Time from sending `checkout.place` to the order's confirmation, ms (null: none confirmed). */
  readonly confirmP50: number | null;
  readonly confirmP99: number | null;
  /** Orders accepted and not ended over time (s since the first order), from `orders.stats`. */
  readonly backlog: readonly BacklogSample[];
  /** Largest resident memory of the order service seen in `orders.stats`, bytes. */
  readonly orderRssMaxBytes: number | null;
  /** Orders whose ledger holds more than one charge. */
  readonly chargedTwice: number;
  /** Orders whose money does not add up: a CONFIRMED one without exactly one charge and no refund, a CANCELLED one with charges and refunds unequal. */
  readonly unbalanced: number;
  /** Average ms per saga phase in the order service (`orders.stats` sagas.timeline) at the end. */
  readonly timeline: Readonly<Record<string, number>> | null;
  /** The order store's figures at the end (what places waited for, the longest run per operation). */
  readonly store: StoreFigures | null;
  /** CPU the order service's process spent (all its threads, /proc) from the first measured order to the end of the drain, per accepted order, ms; null without /proc. */
  readonly orderCpuMsPerOrder: number | null;
  /** The order service's event-loop delay since its start (`orders.stats` at the end: lateness beyond the monitor's 10 ms sampling interval), ms; null when not reported. */
  readonly orderLoopDelayMs: { readonly p99: number; readonly max: number } | null;
  /** The order service thread's garbage-collection pauses since its start, by kind (`orders.stats` at the end); null when not reported. */
  readonly orderGcPauseMs: GcPauseStats | null;
}

/** One reading of the order service's backlog. */
export interface BacklogSample {
  readonly t: number;
  /** Accepted orders whose saga has not ended. */
  readonly pending: number;
  readonly confirmed: number;
}

/** What the bench reads from `orders.stats`. */
interface OrderStats {
  orders: { pending: number; confirmed: number };
  sagas?: { timeline?: { avgMs: Record<string, number> } };
  process?: { rssBytes: number; eventLoopDelayMs?: { p99: number; max: number }; gcPauseMs?: GcPauseStats };
  store?: StoreFigures;
}

/** The order store's figures from `orders.stats` (examples/checkout/src/order-db-channel.ts, StoreBusyStats). */
export interface StoreFigures {
  readonly ops: number;
  readonly maxMs: number;
  readonly recentMaxMs: number;
  readonly places?: number;
  readonly placeCommits?: number;
  readonly placeWaitP99Ms?: number;
  readonly placeWaitMaxMs?: number;
  readonly slowestPlaceWaits?: ReadonlyArray<{ waitedMs: number; behind?: { op: string; rows: number; ms: number } }>;
  readonly byOp?: Readonly<Record<string, { n: number; maxMs: number; rowsAtMax: number }>>;
  readonly splitBatches?: number;
  /** The place journal (examples/checkout/src/order-store.ts, JournalStats). */
  readonly journal?: { journaled: number; pendingMax: number; capacity: number; full: number; keyKnown: number; commits: number };
}

export async function runSluiceCheckout(ctx: BenchContext, o: ChainRun): Promise<SluiceCheckoutResult | Unavailable> {
  const processes = new Processes();
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-checkout-'));
  let client: Client | undefined;
  let sampler: MemorySampler | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;
  let backlogPoll: ReturnType<typeof setInterval> | undefined;
  let orderPid: number | undefined;
  try {
    if (!existsSync(packagePath('examples', 'checkout', 'src', 'order-service.ts'))) {
      return unavailable('checkout services not available: examples/checkout/ (order, payment, inventory) is not in this tree');
    }
    // The demo's gateway policies: the product as `npm start` runs it.
    const gw = await processes.gateway([...policyFlags(checkoutPolicies), '--dead-letter-dir', join(dataDir, 'gateway'), '--durable-dir', join(dataDir, 'gateway', 'durable')]);
    try {
      // One empty store initialised and copied to the three, as the demo does: three first-time
      // initialisations at once take tens of seconds of CPU on a small machine.
      await prepareStoreDirs(['order', 'payment', 'inventory'].map((name) => join(dataDir, name)), silentLogger);
      const common = ['--data-dir', dataDir];
      await processes.service('inventory', gw.url, 'inventory-1', [...common, '--latency-ms', String(o.inventoryLatencyMs), '--failure-rate', String(o.inventoryFailureRate)]);
      await processes.service('payment', gw.url, 'payment-1', common);
      // The order service's own defaults (work queue, saga limit): the product as shipped.
      orderPid = (await processes.service('order', gw.url, 'order-1', [...common, ...(o.storeThread ? ['--store-thread', o.storeThread] : [])], {}, o.orderNodeArgs ?? [])).process.pid;
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
    const backlog: BacklogSample[] = [];
    let orderRssMax: number | null = null;
    let lastStats: OrderStats | undefined;
    const start = performance.now();
    poll = setInterval(() => {
      fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.text())
        .then((text) => series.push({ t: (performance.now() - start) / 1000, pending: sumMetric(text, 'sluice_streams_active') }))
        .catch(() => {});
    }, 500);
    const readStats = async (): Promise<OrderStats | undefined> => {
      try {
        const st = await c.requestResponse<OrderStats>('orders.stats', {});
        lastStats = st;
        backlog.push({ t: (performance.now() - start) / 1000, pending: st.orders.pending, confirmed: st.orders.confirmed });
        if (st.process) orderRssMax = Math.max(orderRssMax ?? 0, st.process.rssBytes);
        return st;
      } catch {
        return undefined;
      }
    };
    backlogPoll = setInterval(() => void readStats(), 1_000);

    const run = `sluice-${Date.now()}`;
    /** Warm-up orders: not in the latency or confirmation figures, still checked for loss and double charges. */
    const warmAccepted = new Set<string>();
    const warm = await warmUp(o, async (i) => {
      const answer = await c.requestResponse<{ orderId: string }>('checkout.place', placeCommand(`${run}-warm`, i));
      warmAccepted.add(answer.orderId);
      return answer;
    });
    const stats = new RunStats(systemClock.now());
    const accepted = new Set<string>();
    /** When each accepted order's place call was sent (epoch ms, comparable with the order service's timestamps). */
    const sentAt = new Map<string, number>();
    const startWall = Date.now();
    const cpuBefore = cpuSeconds(orderPid);
    const r = await runRequestReply({
      call: async (i) => {
        const sent = Date.now();
        const answer = await c.requestResponse<{ orderId: string; status: string }>('checkout.place', placeCommand(run, i));
        accepted.add(answer.orderId);
        sentAt.set(answer.orderId, sent);
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
    const warmP99 = warm.p99();
    ctx.log(
      `Sluice at ${o.rate}/s (store thread: ${o.storeThread ?? 'worker'}): ${accepted.size} of ${stats.sent} orders accepted, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, errors ${JSON.stringify(stats.errors.toJSON())}` +
        `${warmP99 !== null ? `; warm-up (${o.warmUpS} s, not counted) p99 ${warmP99.toFixed(1)} ms` : ''}`,
    );

    // Wait (bounded) for the backlog to empty, reading only the order service's counts meanwhile:
    // looking every pending order up while sagas run would compete with them for the order store.
    const sentEndWall = startWall + r.sendingMs;
    const sentEnd = performance.now();
    const deadline = sentEnd + o.drainS * 1000;
    let settledAfterS: number | null = null;
    for (;;) {
      const st = await readStats();
      if (st && st.orders.pending === 0) {
        settledAfterS = (performance.now() - sentEnd) / 1000;
        break;
      }
      if (performance.now() >= deadline) break;
      if (st) ctx.log(`  ${st.orders.pending} accepted orders still running`);
      await new Promise((res) => setTimeout(res, 1_000));
    }
    clearInterval(backlogPoll);
    backlogPoll = undefined;
    const cpuAfter = cpuSeconds(orderPid);
    const orderCpuMsPerOrder = cpuBefore !== undefined && cpuAfter !== undefined && accepted.size > 0 ? ((cpuAfter - cpuBefore) * 1000) / accepted.size : null;
    const all = await lookUp(c, [...accepted, ...warmAccepted]);
    const views = new Map([...all].filter(([id]) => accepted.has(id)));
    const samples = await sampler.stop();
    sampler = undefined;
    const outcomes: Record<string, number> = {};
    const cancelledBy: Record<string, number> = {};
    for (const v of views.values()) {
      if (v.status === 'UNKNOWN') continue;
      outcomes[v.status] = (outcomes[v.status] ?? 0) + 1;
      if (v.status === 'CANCELLED') cancelledBy[reasonCode(v.reason)] = (cancelledBy[reasonCode(v.reason)] ?? 0) + 1;
    }
    const lost = [...all.values()].filter((v) => v.status === 'UNKNOWN').length;
    const unfinished = outcomes.PENDING ?? 0;
    const confirmTimes = new LatencyHistogram();
    let confirmedWithin10s = 0;
    for (const [orderId, v] of views) {
      if (v.status !== 'CONFIRMED' || v.updatedAt === undefined) continue;
      const at = Date.parse(v.updatedAt);
      confirmTimes.record(Math.max(0, at - (sentAt.get(orderId) ?? at)));
      if (at <= sentEndWall + 10_000) confirmedWithin10s++;
    }
    const confirmed = outcomes.CONFIRMED ?? 0;
    const money = await checkLedgers(c, all);
    const cs = confirmed ? confirmTimes.summary() : undefined;
    ctx.log(
      `Sluice: accepted orders ${JSON.stringify(outcomes)}, ${lost} lost${settledAfterS !== null ? `, all settled ${settledAfterS.toFixed(1)} s after sending stopped` : ''}; ` +
        `${confirmedWithin10s} confirmed within 10 s of the end of sending; placing to CONFIRMED p50 ${cs ? cs.p50.toFixed(0) : '-'} ms, p99 ${cs ? cs.p99.toFixed(0) : '-'} ms; ` +
        `${money.chargedTwice} charged twice, ${money.unbalanced} unbalanced; saga phases ${JSON.stringify(lastStats?.sagas?.timeline?.avgMs ?? {})}; ` +
        `order service event-loop delay ${JSON.stringify(lastStats?.process?.eventLoopDelayMs ?? {})} ms, longest store operation ${lastStats?.store?.maxMs ?? '-'} ms` +
        `${orderCpuMsPerOrder !== null ? `, order service CPU ${orderCpuMsPerOrder.toFixed(2)} ms per order` : ''}` +
        `${lastStats?.process?.gcPauseMs ? `, its GC pauses ${JSON.stringify(lastStats.process.gcPauseMs)} ms` : ''}` +
        `${lastStats?.store?.placeCommits ? `, ${(lastStats.store.places! / lastStats.store.placeCommits).toFixed(2)} orders accepted per store transaction` : ''}`,
    );
    const st = lastStats?.store;
    if (st?.placeWaitP99Ms !== undefined) {
      const ops = Object.entries(st.byOp ?? {}).map(([op, v]) => `${op} x${v.n} max ${v.maxMs} ms (${v.rowsAtMax} rows)`).join(', ');
      const slowest = (st.slowestPlaceWaits ?? []).map((w) => `${w.waitedMs} ms behind ${w.behind ? `${w.behind.op} (${w.behind.rows} rows, ${w.behind.ms} ms)` : 'nothing'}`).join('; ');
      ctx.log(`   order store: place wait for the store p99 ${st.placeWaitP99Ms} ms, max ${st.placeWaitMaxMs} ms; slowest: ${slowest}; batches split ${st.splitBatches ?? 0}; longest run per operation: ${ops}`);
    }
    const j = st?.journal;
    if (j) {
      ctx.log(
        `   place journal: ${j.journaled} orders answered from it in ${j.commits} commits, at most ${j.pendingMax} of ${j.capacity} pending; ` +
          `through the store instead: ${j.full} (journal full), ${j.keyKnown} (key perhaps placed before)`,
      );
    }
    return {
      available: true,
      sent: stats.sent,
      accepted: accepted.size,
      throughput: stats.completed / (r.sendingMs / 1000),
      p50: s.p50,
      p99: s.p99,
      warmUpP99: warmP99,
      storeThread: o.storeThread ?? 'worker',
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
      confirmed,
      confirmedWithin10s,
      confirmedPerSec: confirmed / (r.sendingMs / 1000),
      confirmP50: cs ? cs.p50 : null,
      confirmP99: cs ? cs.p99 : null,
      backlog,
      orderRssMaxBytes: orderRssMax,
      chargedTwice: money.chargedTwice,
      unbalanced: money.unbalanced,
      timeline: lastStats?.sagas?.timeline?.avgMs ?? null,
      store: lastStats?.store ?? null,
      orderCpuMsPerOrder,
      orderLoopDelayMs: lastStats?.process?.eventLoopDelayMs ?? null,
      orderGcPauseMs: lastStats?.process?.gcPauseMs ?? null,
    };
  } finally {
    if (poll) clearInterval(poll);
    if (backlogPoll) clearInterval(backlogPoll);
    await sampler?.stop();
    client?.close();
    await processes.stopAll();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** What `orders.get` says about one order: its status (UNKNOWN when the order service does not know it), why it was cancelled, when it last changed. */
interface Looked {
  readonly status: string;
  readonly reason?: string;
  readonly updatedAt?: string;
}

/** Each order's view (`orders.get`), 64 lookups at a time. */
async function lookUp(client: Client, ids: readonly string[]): Promise<Map<string, Looked>> {
  const out = new Map<string, Looked>();
  for (let i = 0; i < ids.length; i += 64) {
    await Promise.all(
      ids.slice(i, i + 64).map(async (orderId) => {
        try {
          const view = await client.requestResponse<{ status: string; reason?: string; updatedAt: string }>('orders.get', { orderId });
          out.set(orderId, { status: view.status, updatedAt: view.updatedAt, ...(view.reason ? { reason: view.reason } : {}) });
        } catch (err) {
          // "no order": the order service does not know it. Anything else (a timeout) is asked again next round.
          out.set(orderId, { status: isSluiceError(err) && err.code === 'INVALID_ARGUMENT' ? 'UNKNOWN' : 'PENDING' });
        }
      }),
    );
  }
  return out;
}

/**
 * Each known order's ledger (`payment.get`), 64 at a time: how many were
 * charged twice, and how many do not add up for their status. Orders still
 * PENDING are not judged (their saga may be between charge and refund).
 */
async function checkLedgers(client: Client, views: ReadonlyMap<string, Looked>): Promise<{ chargedTwice: number; unbalanced: number }> {
  const ids = [...views].filter(([, v]) => v.status === 'CONFIRMED' || v.status === 'CANCELLED').map(([id]) => id);
  let chargedTwice = 0;
  let unbalanced = 0;
  for (let i = 0; i < ids.length; i += 64) {
    await Promise.all(
      ids.slice(i, i + 64).map(async (orderId) => {
        const p = await client.requestResponse<{ ledger: Array<{ kind: string }> }>('payment.get', { orderId });
        const charges = p.ledger.filter((l) => l.kind === 'CHARGE').length;
        const refunds = p.ledger.filter((l) => l.kind === 'REFUND').length;
        if (charges > 1) chargedTwice++;
        const ok = views.get(orderId)!.status === 'CONFIRMED' ? charges === 1 && refunds === 0 : charges === refunds;
        if (!ok) unbalanced++;
      }),
    );
  }
  return { chargedTwice, unbalanced };
}

/** The last error code named in a cancellation reason (`... (last: CIRCUIT_OPEN: ...)`), or OTHER. */
export function reasonCode(reason: string | undefined): string {
  const codes = reason?.match(/\b[A-Z][A-Z_]{3,}(?=:)/g);
  return codes?.at(-1) ?? 'OTHER';
}
