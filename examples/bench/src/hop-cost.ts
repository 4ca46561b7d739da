/**
 * Hop cost: bench.source throughput (100-byte items) through the gateway
 * against the same bench service reached directly, with the same consumer
 * code, at several consumer prefetch depths. Gateway and service run as
 * separate processes, like in production; runs alternate between the two
 * sides so that drift on a noisy machine hits both alike.
 *
 * Why several prefetches: a consumer's prefetch is its pipeline depth; the
 * gateway asks its producer ahead as much as the consumer's first request
 * (flow.prefetch, within the window), so the depth is the same on both hops.
 * Shallow and deep prefetches show where the extra hop's latency and its CPU
 * matter.
 */
import { SluiceError } from 'sluice';
import { encodeJson } from '../../../src/protocol/json.js';
import { routeMetadata } from 'sluice';
import type { Connection } from '../../../src/rsocket/connection.js';
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import { startDirectServer } from './direct-server.js';
import { Processes, median, withTimeout } from './processes.js';
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
    : { items: 100_000, streams: 4, size: 100, runs: 3, prefetches: [64, 256, 1024] };
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
}

export async function withBothSides<T>(fn: (sides: BothSides) => Promise<T>): Promise<T> {
  const processes = new Processes();
  const direct = await startDirectServer();
  let viaGateway: Connection | undefined;
  try {
    const gw = await processes.gateway();
    await processes.service('bench', gw.url, 'bench-gw');
    await processes.service('bench', direct.url, 'bench-direct');
    viaGateway = await establish(nodeTransport, { url: gw.url, limits: { maxOutboundStreams: 1 << 20 } });
    const straight = await direct.serviceFor('bench.source');
    return await fn({ gateway: viaGateway, direct: straight, gatewayUrl: gw.url, adminUrl: gw.adminUrl });
  } finally {
    viaGateway?.close();
    await processes.stopAll();
    await direct.close();
  }
}

export async function runHopCost(ctx: BenchContext, options: Partial<HopCostOptions> = {}): Promise<HopCostResult> {
  const o = { ...hopCostDefaults(ctx.quick), ...options };
  const points = await withBothSides(async ({ gateway, direct }) => {
    const out: HopCostPoint[] = [];
    for (const prefetch of o.prefetches) {
      const shape = { items: o.items, streams: o.streams, size: o.size, prefetch };
      // Warm-up (JIT, TCP windows), then alternate sides.
      const warm = { ...shape, items: Math.min(o.items, 20_000) };
      await measureStreams(gateway, warm);
      await measureStreams(direct, warm);
      const samples = { gateway: [] as number[], direct: [] as number[] };
      for (let r = 0; r < o.runs; r++) {
        samples.gateway.push(await measureStreams(gateway, shape));
        samples.direct.push(await measureStreams(direct, shape));
        ctx.log(`prefetch ${prefetch}, run ${r + 1}/${o.runs}: gateway ${fmt(samples.gateway.at(-1)!)} items/s, direct ${fmt(samples.direct.at(-1)!)} items/s`);
      }
      const g = median(samples.gateway);
      const d = median(samples.direct);
      out.push({ prefetch, gateway: g, direct: d, ratio: g / d, samples });
    }
    return out;
  });
  return { items: o.items, streams: o.streams, size: o.size, runs: o.runs, points };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
