/**
 * Hop cost: bench.source throughput (100-byte items) through the gateway
 * against the same bench service reached directly, with the same consumer
 * code, at several consumer prefetch depths. Gateway and service run as
 * separate processes, like in production; runs alternate between the two
 * sides so that drift on a noisy machine hits both alike.
 *
 * Why several prefetches: a consumer's prefetch is its pipeline depth; the
 * gateway asks its producer ahead as much as the consumer's first request,
 * and further (up to flow.prefetch, within the window) while the consumer
 * finds less held than it asks for.
 * Shallow and deep prefetches show where the extra hop's latency and its CPU
 * matter.
 *
 * How a point is measured: each round runs both sides back to back, the
 * side that goes first alternating by round (gateway first, then direct
 * first, ...): a side that always ran first or always second would carry
 * whatever the other left behind (its garbage, a neighbour's burst of load)
 * into every one of its samples. Each run also records the CPU per item of
 * every process it used (from /proc), which a shared machine's load does not
 * move the way it moves throughput: it says whether a low ratio is the hop's
 * work or the scheduler's.
 */
import { SluiceError } from 'sluice';
import { encodeJson } from '../../../src/protocol/json.js';
import { routeMetadata } from 'sluice';
import type { Connection } from '../../../src/rsocket/connection.js';
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import { startDirectServer } from './direct-server.js';
import { Processes, median, withTimeout } from './processes.js';
import { cpuDuring } from './proc-cpu.js';
import type { BenchContext } from './scenario.js';

export interface StreamShape {
  /** Items per stream. */
  items: number;
  /** Concurrent streams. */
  streams: number;
  /** Item size in bytes. */
  size: number;
  /** Consumer prefetch; top-ups in halves. */
  prefetch: number;
}

export interface HopCostPoint {
  readonly prefetch: number;
  /** Items per second, median of the runs. */
  readonly gateway: number;
  readonly direct: number;
  /** gateway / direct. */
  readonly ratio: number;
  readonly samples: { readonly gateway: readonly number[]; readonly direct: readonly number[] };
  /** CPU µs per item of each process, over all the runs of the point (null where /proc is unreadable; absent from results saved before it was measured). */
  readonly cpuPerItem?: {
    /** Through the gateway: the consumer (this process), the gateway, the bench service behind it. */
    readonly gateway: { readonly consumer: number | null; readonly gateway: number | null; readonly service: number | null };
    /** Direct: this process (the consumer and the direct server), the bench service on it. */
    readonly direct: { readonly consumer: number | null; readonly service: number | null };
  };
}

export interface HopCostResult {
  readonly items: number;
  readonly streams: number;
  readonly size: number;
  readonly runs: number;
  readonly points: readonly HopCostPoint[];
}

export interface HopCostOptions {
  items: number;
  streams: number;
  size: number;
  runs: number;
  prefetches: readonly number[];
}

export function hopCostDefaults(quick: boolean): HopCostOptions {
  return quick
    ? { items: 25_000, streams: 4, size: 100, runs: 1, prefetches: [256, 1024] }
    : // An even number of rounds, so each side goes first in half of them; 300,000 items a stream, so a run lasts
      // seconds (at 100,000 one lasted 0.4-0.9 s on Node 24, short enough for one burst of a neighbour's load to decide it).
      // Six rounds, not four: ten repeats of the scenario on a quiet machine gave a four-round point's ratio a standard
      // deviation of 0.07-0.13 from one repeat to the next, as large as the margins the targets are judged by.
      { items: 300_000, streams: 4, size: 100, runs: 6, prefetches: [64, 256, 1024] };
}

/**
 * Consumes `streams` concurrent bench.source streams of `items` each over
 * `conn` with batched demand (prefetch, then top-ups of prefetch / 2 as in
 * the client library); resolves with items per second. Items are counted,
 * not decoded, so the number is the transport's and the hop's, not JSON's.
 */
export async function measureStreams(conn: Connection, o: StreamShape, timeoutMs = 120_000): Promise<number> {
  const batch = Math.max(1, o.prefetch >> 1);
  const start = performance.now();
  const all = Promise.all(
    Array.from({ length: o.streams }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        let received = 0;
        let sinceTopUp = 0;
        const stream = conn.requestStream(
          { data: encodeJson({ id: `hop-${Date.now()}-${i}`, count: o.items, size: o.size }), metadata: routeMetadata('bench.source') },
          o.prefetch,
          {
            onNext: () => {
              received++;
              if (++sinceTopUp === batch) {
                sinceTopUp = 0;
                stream.request(batch);
              }
            },
            onComplete: () => (received === o.items ? resolve() : reject(new Error(`stream ended after ${received} of ${o.items} items`))),
            onError: (e: SluiceError) => reject(e),
            onRequest: () => {},
            onCancel: () => {},
          },
        );
      }),
    ),
  );
  await withTimeout(all, timeoutMs, `${o.streams} bench.source streams of ${o.items} items`);
  return (o.items * o.streams) / ((performance.now() - start) / 1000);
}

/** A gateway and a bench service behind it, plus the same service on a direct server: both sides of the hop. */
export interface BothSides {
  /** A bare connection to the gateway. */
  readonly gateway: Connection;
  /** The bench service's own connection to the direct server: requests sent on it reach the service with no hop. */
  readonly direct: Connection;
  readonly gatewayUrl: string;
  readonly adminUrl: string;
  /** Process ids, for CPU from /proc: the gateway, the bench service behind it, the bench service on the direct server. */
  readonly pids: { readonly gateway: number | undefined; readonly gatewayService: number | undefined; readonly directService: number | undefined };
}

export async function withBothSides<T>(fn: (sides: BothSides) => Promise<T>): Promise<T> {
  const processes = new Processes();
  const direct = await startDirectServer();
  let viaGateway: Connection | undefined;
  try {
    const gw = await processes.gateway();
    const gatewayService = await processes.service('bench', gw.url, 'bench-gw');
    const directService = await processes.service('bench', direct.url, 'bench-direct');
    viaGateway = await establish(nodeTransport, { url: gw.url, limits: { maxOutboundStreams: 1 << 20 } });
    const straight = await direct.serviceFor('bench.source');
    const pids = { gateway: gw.child.process.pid, gatewayService: gatewayService.process.pid, directService: directService.process.pid };
    return await fn({ gateway: viaGateway, direct: straight, gatewayUrl: gw.url, adminUrl: gw.adminUrl, pids });
  } finally {
    viaGateway?.close();
    await processes.stopAll();
    await direct.close();
  }
}

export async function runHopCost(ctx: BenchContext, options: Partial<HopCostOptions> = {}): Promise<HopCostResult> {
  const o = { ...hopCostDefaults(ctx.quick), ...options };
  const points = await withBothSides(async ({ gateway, direct, pids }) => {
    const out: HopCostPoint[] = [];
    const viaPids = { consumer: process.pid, gateway: pids.gateway, service: pids.gatewayService };
    const directPids = { consumer: process.pid, service: pids.directService };
    for (const prefetch of o.prefetches) {
      const shape = { items: o.items, streams: o.streams, size: o.size, prefetch };
      // Warm-up (JIT, TCP windows), then alternate sides.
      const warm = { ...shape, items: Math.min(o.items, 20_000) };
      await measureStreams(gateway, warm);
      await measureStreams(direct, warm);
      const samples = { gateway: [] as number[], direct: [] as number[] };
      const cpu = { gateway: new CpuPerItem(), direct: new CpuPerItem() };
      const items = shape.items * shape.streams;
      const viaGateway = async () => {
        const m = await cpuDuring(viaPids, () => measureStreams(gateway, shape));
        samples.gateway.push(m.result);
        cpu.gateway.add(m.cpu, items);
      };
      const straight = async () => {
        const m = await cpuDuring(directPids, () => measureStreams(direct, shape));
        samples.direct.push(m.result);
        cpu.direct.add(m.cpu, items);
      };
      for (let r = 0; r < o.runs; r++) {
        // The side that goes first alternates by round (see the top of this file).
        const first = r % 2 === 0 ? 'gateway' : 'direct';
        if (first === 'gateway') await viaGateway().then(straight);
        else await straight().then(viaGateway);
        ctx.log(
          `prefetch ${prefetch}, run ${r + 1}/${o.runs} (${first} first): gateway ${fmt(samples.gateway.at(-1)!)} items/s, direct ${fmt(samples.direct.at(-1)!)} items/s; CPU µs per item: gateway side ${cpu.gateway.last()}, direct side ${cpu.direct.last()}`,
        );
      }
      const g = median(samples.gateway);
      const d = median(samples.direct);
      const via = cpu.gateway.perItem();
      const dir = cpu.direct.perItem();
      out.push({
        prefetch,
        gateway: g,
        direct: d,
        ratio: g / d,
        samples,
        cpuPerItem: { gateway: { consumer: via.consumer ?? null, gateway: via.gateway ?? null, service: via.service ?? null }, direct: { consumer: dir.consumer ?? null, service: dir.service ?? null } },
      });
    }
    return out;
  });
  return { items: o.items, streams: o.streams, size: o.size, runs: o.runs, points };
}

/** CPU seconds per process summed over runs; µs per item at the end (null for a process /proc could not read). */
class CpuPerItem {
  private readonly seconds: Record<string, number | null> = {};
  private items = 0;
  private latest: Record<string, number | undefined> = {};
  private latestItems = 0;

  add(cpu: Record<string, number | undefined>, items: number): void {
    for (const [k, v] of Object.entries(cpu)) {
      const sum = this.seconds[k];
      this.seconds[k] = v === undefined || sum === null ? null : (sum ?? 0) + v;
    }
    this.items += items;
    this.latest = cpu;
    this.latestItems = items;
  }

  perItem(): Record<string, number | null> {
    return Object.fromEntries(Object.entries(this.seconds).map(([k, s]) => [k, s === null || this.items === 0 ? null : (s * 1e6) / this.items]));
  }

  /** The last run's figures, for the progress log. */
  last(): string {
    return Object.entries(this.latest)
      .map(([k, s]) => `${k} ${s === undefined ? 'n/a' : ((s * 1e6) / this.latestItems).toFixed(2)}`)
      .join(', ');
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
