/**
 * Scale: 10,000 concurrent streams over 1,000 client connections (10 each),
 * every stream a bench.source that was granted one item and then waits for
 * more demand, so each one is live state at the gateway (a forwarded stream
 * with its two halves and its demand bridge) and nothing else. Gateway RSS
 * and heap (its own /metrics) are read before, after the connections open and
 * after the streams open; the differences divided by the counts are the
 * memory per connection and per stream.
 *
 * The gateway cannot be asked to collect garbage from outside, so each
 * reading is the median of a few taken after a pause; heap numbers still
 * include some garbage, and RSS moves in whole pages and arenas.
 */
import { spawnSync } from 'node:child_process';
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import { encodeJson } from '../../../src/protocol/json.js';
import { routeMetadata } from 'sluice';
import type { Connection } from '../../../src/rsocket/connection.js';
import type { Stream } from '../../../src/rsocket/stream.js';
import { scrapeMemory } from '../../../src/loadtest/metrics-scraper.js';
import { Processes, median, withTimeout } from './processes.js';
import type { BenchContext } from './scenario.js';

export interface ScaleOptions {
  connections: number;
  streamsPerConnection: number;
  /** Connections opened (or connections' streams opened) per step; memory is read after each step. */
  step: number;
}

export function scaleDefaults(quick: boolean): ScaleOptions {
  return quick ? { connections: 200, streamsPerConnection: 10, step: 50 } : { connections: 1000, streamsPerConnection: 10, step: 100 };
}

export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
}

export interface ScalePoint extends MemoryReading {
  readonly connections: number;
  readonly streams: number;
}

export interface ScaleResult {
  readonly options: ScaleOptions;
  /** The file descriptor limit this process runs with (ulimit -n). */
  readonly fdLimit: string;
  readonly baseline: MemoryReading;
  readonly afterConnections: MemoryReading;
  readonly afterStreams: MemoryReading;
  /** Bytes per connection and per stream, from RSS and from heap used. */
  readonly perConnection: MemoryReading;
  readonly perStream: MemoryReading;
  /** What the gateway reported at the peak: client connections and active streams. */
  readonly gatewayConnections: number;
  readonly gatewayStreams: number;
  /** Memory after each step, for the chart. */
  readonly series: readonly ScalePoint[];
}

export async function runScale(ctx: BenchContext, options: Partial<ScaleOptions> = {}): Promise<ScaleResult> {
  const o = { ...scaleDefaults(ctx.quick), ...options };
  const fdLimit = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  // Each connection needs a descriptor here and one at the gateway; leave room for everything else.
  if (/^\d+$/.test(fdLimit) && Number(fdLimit) < o.connections + 256) {
    throw new Error(`file descriptor limit ${fdLimit} is too low for ${o.connections} connections: raise it (ulimit -n ${o.connections + 1024})`);
  }
  const processes = new Processes();
  const conns: Connection[] = [];
  const streams: Stream[] = [];
  try {
    // Every stream comes from this process, one client identity: it may hold them all (by default an identity gets half a route).
    const gw = await processes.gateway(['--policy', `bench.source:bulkhead.maxPerIdentity=${o.connections * o.streamsPerConnection}`]);
    await processes.service('bench', gw.url);
    const read = async (): Promise<MemoryReading> => {
      const rs: MemoryReading[] = [];
      for (let i = 0; i < 3; i++) {
        await pause(500);
        rs.push(await scrapeMemory(gw.adminUrl));
      }
      return { rss: median(rs.map((r) => r.rss)), heapUsed: median(rs.map((r) => r.heapUsed)) };
    };
    const series: ScalePoint[] = [];
    await pause(1_000);
    const baseline = await read();
    series.push({ connections: 0, streams: 0, ...baseline });

    for (let i = 0; i < o.connections; i += o.step) {
      const n = Math.min(o.step, o.connections - i);
      for (let j = 0; j < n; j += 50) {
        const batch = Math.min(50, n - j);
        // Keepalive as rare as the gateway lets a client be silent (keepAlive.maxClientLifetimeMs, 60 s): little KEEPALIVE traffic in the readings.
        conns.push(...(await Promise.all(Array.from({ length: batch }, () => establish(nodeTransport, { url: gw.url, keepAlive: { intervalMs: 20_000, lifetimeMs: 60_000 } })))));
      }
      series.push({ connections: conns.length, streams: 0, ...(await scrapeMemory(gw.adminUrl)) });
    }
    const afterConnections = await read();
    ctx.log(`${conns.length} connections open`);

    const route = routeMetadata('bench.source');
    for (let i = 0; i < conns.length; i += o.step) {
      const opened: Array<Promise<void>> = [];
      for (const conn of conns.slice(i, i + o.step)) {
        for (let k = 0; k < o.streamsPerConnection; k++) {
          opened.push(
            new Promise<void>((resolve, reject) => {
              // One item of demand: the stream delivers it and then waits, open.
              streams.push(
                conn.requestStream({ data: encodeJson({ size: 16 }), metadata: route }, 1, {
                  onNext: () => resolve(),
                  onComplete: () => reject(new Error('bench.source completed unexpectedly')),
                  onError: (e) => reject(e),
                  onRequest: () => {},
                  onCancel: () => {},
                }),
              );
            }),
          );
        }
      }
      await withTimeout(Promise.all(opened), 60_000, `${opened.length} streams opening`);
      series.push({ connections: conns.length, streams: streams.length, ...(await scrapeMemory(gw.adminUrl)) });
    }
    const afterStreams = await read();
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const gatewayStreams = sumMetric(metrics, 'sluice_streams_active');
    const gatewayConnections = sumMetric(metrics, 'sluice_connections', 'role="client"');
    ctx.log(`${streams.length} streams open; the gateway reports ${gatewayConnections} client connections and ${gatewayStreams} active streams`);
    const per = (a: MemoryReading, b: MemoryReading, n: number): MemoryReading => ({ rss: (b.rss - a.rss) / n, heapUsed: (b.heapUsed - a.heapUsed) / n });
    return {
      options: o,
      fdLimit,
      baseline,
      afterConnections,
      afterStreams,
      perConnection: per(baseline, afterConnections, conns.length),
      perStream: per(afterConnections, afterStreams, streams.length),
      gatewayConnections,
      gatewayStreams,
      series,
    };
  } finally {
    for (const s of streams) if (!s.closed) s.cancel();
    for (const c of conns) c.close();
    await processes.stopAll();
  }
}

/** Sum of every sample of `name` (optionally only those whose labels contain `label`). */
export function sumMetric(text: string, name: string, label?: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (label && !line.includes(label)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
