/**
 * Hop cost: bench.source throughput (100-byte items) through the gateway
 * against the same bench service reached directly, measured in one run with
 * the same consumer code. Gateway and service run as separate processes,
 * like in production; runs alternate so that drift hits both sides alike.
 */
import { SluiceError } from '../errors.js';
import { encodeJson } from '../protocol/json.js';
import { routeMetadata } from '../protocol/metadata.js';
import type { Connection } from '../rsocket/connection.js';
import { establish } from '../../clients/core/connector.js';
import { nodeTransport } from '../../clients/node/transport.js';
import { startChild, type Child } from '../demo/supervisor.js';
import { startDirectServer } from './direct-server.js';

export interface HopCostOptions {
  /** Items per stream per run. Default 200000. */
  items: number;
  /** Concurrent streams per run. Default 4. */
  streams: number;
  /** Item size in bytes. Default 100. */
  size: number;
  /** Consumer prefetch; top-ups in halves. Default 256. */
  prefetch: number;
  /** Measured runs per side (after one warm-up each). Default 3. */
  runs: number;
  log?: (line: string) => void;
}

export interface HopCostResult {
  readonly options: Omit<HopCostOptions, 'log'>;
  /** Items per second, median of the runs. */
  readonly gateway: number;
  readonly direct: number;
  /** gateway / direct. */
  readonly ratio: number;
  readonly samples: { gateway: number[]; direct: number[] };
}

export const defaultHopCost: Omit<HopCostOptions, 'log'> = { items: 200_000, streams: 4, size: 100, prefetch: 256, runs: 3 };

/**
 * Consumes `streams` concurrent bench.source streams of `items` each over
 * `conn` with batched demand; resolves with items per second.
 */
export async function measureStreams(conn: Connection, o: Omit<HopCostOptions, 'log' | 'runs'>): Promise<number> {
  const batch = Math.max(1, o.prefetch >> 1);
  const start = performance.now();
  await Promise.all(
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
  return (o.items * o.streams) / ((performance.now() - start) / 1000);
}

export async function runHopCost(options: Partial<HopCostOptions> = {}): Promise<HopCostResult> {
  const o = { ...defaultHopCost, ...options };
  const log = options.log ?? (() => {});
  const children: Child[] = [];
  const direct = await startDirectServer();
  try {
    const gateway = startChild({ name: 'gateway', args: ['gateway', '--port', '0', '--admin-port', '0'], env: { SLUICE_LOG_LEVEL: 'warn' } }, 'inherit');
    children.push(gateway);
    const { url } = await gateway.message<{ url: string }>('listening', 30_000);
    for (const target of [url, direct.url]) {
      const svc = startChild({ name: `bench@${target}`, args: ['service', 'bench', '--url', target], env: { SLUICE_LOG_LEVEL: 'warn' } }, 'inherit');
      children.push(svc);
      await svc.message('registered', 30_000);
    }
    const viaGateway = await establish(nodeTransport, { url, limits: { maxOutboundStreams: 1 << 20 } });
    const straight = await direct.serviceFor('bench.source');
    const samples = { gateway: [] as number[], direct: [] as number[] };
    const shape = { items: o.items, streams: o.streams, size: o.size, prefetch: o.prefetch };
    // Warm-up (JIT, TCP windows), then alternate sides.
    await measureStreams(viaGateway, { ...shape, items: Math.min(o.items, 20_000) });
    await measureStreams(straight, { ...shape, items: Math.min(o.items, 20_000) });
    for (let r = 0; r < o.runs; r++) {
      samples.gateway.push(await measureStreams(viaGateway, shape));
      samples.direct.push(await measureStreams(straight, shape));
      log(`  run ${r + 1}/${o.runs}: gateway ${fmt(samples.gateway.at(-1)!)} items/s, direct ${fmt(samples.direct.at(-1)!)} items/s`);
    }
    viaGateway.close();
    const g = median(samples.gateway);
    const d = median(samples.direct);
    return { options: o, gateway: g, direct: d, ratio: g / d, samples };
  } finally {
    await Promise.all(children.map((c) => c.stop(5_000)));
    await direct.close();
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
