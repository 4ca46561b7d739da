/**
 * Scale: a million concurrent streams over 15,000 client connections on one
 * gateway (quick: 100,000 over 1,500). Every stream is a bench.source that
 * was granted one item and then waits for more demand, so each one is live
 * state at the gateway (a forwarded stream: its two halves, its demand bridge,
 * the one item asked ahead) and nothing else.
 *
 * One process may hold only so many file descriptors, so the clients are
 * spread over load generator processes (peers/scale-clients.ts), each
 * binding its own loopback source address (127.0.0.2, 127.0.0.3, ...) with
 * at most 1,000 connections: the gateway's per-address cap
 * (limits.maxConnectionsPerAddress, 1,024 by default) stays on. The upstream
 * halves of the streams live on bench service processes, each serving at most
 * its default of 65,536 requests at once, so there are enough of them for
 * every stream (16 for a million); the gateway's per-instance limits match
 * that cap, so a stream beyond every instance's room is refused OVERLOADED by
 * the gateway. The gateway's limits are raised for the scenario in its
 * config, never in code: maxConnections, the memory budget (each stream holds
 * the one item asked ahead of its demand), and the route's bulkhead.
 *
 * A load generator or service that fails (a stream refused, a connection
 * closed, a crash) ends the step it is in at once, with its cause.
 *
 * Gateway RSS (from /proc) and heap (its /metrics) are read before, after the
 * connections open and after the streams open; the differences divided by
 * the counts are the memory per connection and per stream. Then a random
 * sample of streams requests n items k times and must receive exactly n each
 * time (the engines reject anything beyond demand), and is cancelled: the
 * services' count of open sources must drop by the sample.
 *
 * The gateway cannot be asked to collect garbage from outside, so each
 * reading is the median of a few taken after a pause; heap numbers include
 * the garbage made since V8's last full collection, and RSS moves in whole
 * pages and arenas. That garbage depends on the Node version more than on
 * Sluice: V8 in Node 24 runs full collections far less often than Node
 * 20's, so its heap reads higher for the same live objects (heap snapshots,
 * which collect first, find the same ~1.2 KB per stream on both). The
 * gateway's garbage-collection time while the streams open is read from its
 * own metrics (prom-client's sluice_nodejs_gc_duration_seconds).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scrapeMemory } from '../../../src/loadtest/metrics-scraper.js';
import type { Child } from '../../checkout/src/supervisor.js';
import { DEFAULT_MAX_CONCURRENT } from '../../../src/service/connect-service.js';
import { Processes, median, withTimeout, type GatewayProcess } from './processes.js';
import type { SampleResult } from './peers/scale-clients.js';
import { cpuDuring } from './proc-cpu.js';
import type { BenchContext } from './scenario.js';

export interface ScaleOptions {
  /** Client connections in all. */
  connections: number;
  /** bench.source streams in all, spread evenly over the connections. */
  streams: number;
  /** Connections per load generator process (each its own source address; at most the per-address cap). */
  connectionsPerClient: number;
  /** Bench service processes the upstream streams are spread over. */
  services: number;
  /** Streams whose demand is checked after they all opened. */
  sample: number;
  /** Items each sampled stream requests per round, and how many rounds. */
  sampleRequest: number;
  sampleRounds: number;
}

/**
 * Streams one bench service is given at most: under what it serves at once
 * (`sluice service bench` keeps the default maxConcurrent, 65,536), with room
 * to spare.
 */
export const STREAMS_PER_SERVICE = 62_500;

export function scaleDefaults(quick: boolean): ScaleOptions {
  const common = { connectionsPerClient: 1_000, sample: 1_000, sampleRequest: 8, sampleRounds: 3 };
  const sized = (connections: number, streams: number) => ({ ...common, connections, streams, services: Math.ceil(streams / STREAMS_PER_SERVICE) });
  return quick ? sized(1_500, 100_000) : sized(15_000, 1_000_000);
}

export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
}

export interface ScalePoint extends MemoryReading {
  readonly connections: number;
  readonly streams: number;
}

export interface ProcessMemory {
  readonly name: string;
  readonly rss: number;
}

export interface ScaleResult {
  readonly options: ScaleOptions;
  readonly baseline: MemoryReading;
  readonly afterConnections: MemoryReading;
  readonly afterStreams: MemoryReading;
  /** Bytes per connection and per stream, from RSS and from heap used. */
  readonly perConnection: MemoryReading;
  readonly perStream: MemoryReading;
  /** Seconds to open the connections, and the streams (every stream's first item received). */
  readonly connectSeconds: number;
  readonly openSeconds: number;
  /** CPU µs spent per stream opened: by the gateway, by all the services, by all the load generators. */
  readonly openCpuPerStreamUs: { readonly gateway: number; readonly services: number; readonly loadGenerators: number };
  /** Of the gateway's CPU per stream opened, µs in garbage collection: scavenges (minor) and full collections (major, with their incremental marking). */
  readonly openGcPerStreamUs?: { readonly minor: number; readonly major: number };
  /** What the gateway reported at the peak: client connections and active streams. */
  readonly gatewayConnections: number;
  readonly gatewayStreams: number;
  /** The demand check on the sample, summed over the load generators. */
  readonly sampleResult: SampleResult;
  /** Open sources the services reported before and after the sample was cancelled. */
  readonly sourcesBeforeCancel: number;
  readonly sourcesAfterCancel: number;
  /** Peak RSS of every other process: the bench services and the load generators. */
  readonly processes: readonly ProcessMemory[];
  /** Memory after each step, for the chart. */
  readonly series: readonly ScalePoint[];
}

/**
 * Ms any one step (connecting, opening, the sample) may take before the
 * scenario gives up. Opening 1,000,000 streams costs about 0.2 s of CPU per
 * thousand across the processes (gateway, services, load generators), so on
 * 2 busy cores it can take minutes; the runner's 10-minute cap bounds the whole.
 */
const STEP_TIMEOUT_MS = 360_000;
/**
 * Opening the streams may take 2 ms per stream if that is longer: a 2-core
 * machine at a load average of 20-30 (other work on it) opened about 1,000 a
 * second, and 1 ms per stream ran out at 1,000,000.
 */
const openTimeoutMs = (streams: number) => Math.max(STEP_TIMEOUT_MS, 2 * streams);

export async function runScale(ctx: BenchContext, options: Partial<ScaleOptions> = {}): Promise<ScaleResult> {
  const defaults = scaleDefaults(ctx.quick);
  const o = { ...defaults, ...options, services: options.services ?? (options.streams ? Math.ceil(options.streams / STREAMS_PER_SERVICE) : defaults.services) };
  const clientCount = Math.ceil(o.connections / o.connectionsPerClient);
  if (clientCount > 250) throw new Error(`${clientCount} load generators need more loopback source addresses than 127.0.0.2-127.0.0.251`);
  const processes = new Processes();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-scale-'));
  try {
    const gw = await processes.gateway(['--config', await writeConfig(dir, o)]);
    const services: Child[] = [];
    for (let i = 0; i < o.services; i++) services.push(await processes.service('bench', gw.url, `bench-${i}`));
    // Any process failing from here on ends the step in progress with its cause (a load generator's joins below).
    const failures = [gw.child, ...services].map((c) => processes.failure(c));
    const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, ...failures]);
    const read = async (): Promise<MemoryReading> => {
      const rs: MemoryReading[] = [];
      for (let i = 0; i < 3; i++) {
        await pause(500);
        rs.push(await gatewayMemory(gw));
      }
      return { rss: median(rs.map((r) => r.rss)), heapUsed: median(rs.map((r) => r.heapUsed)) };
    };
    const series: ScalePoint[] = [];
    await pause(1_000);
    const baseline = await read();
    series.push({ connections: 0, streams: 0, ...baseline });

    // Every load generator connects at once; each one done is a point of the chart.
    const t0 = performance.now();
    let connected = 0;
    const clients: Child[] = await Promise.all(
      Array.from({ length: clientCount }, async (_, i) => {
        const connections = Math.min(o.connectionsPerClient, o.connections - i * o.connectionsPerClient);
        const first = i * o.connectionsPerClient;
        // This generator's share of the streams, by the same rounding as the connections' shares within it.
        const streams = Math.floor((o.streams * (first + connections)) / o.connections) - Math.floor((o.streams * first) / o.connections);
        const args = ['--url', gw.url, '--local-address', `127.0.0.${2 + i}`, '--connections', String(connections), '--streams', String(streams)];
        const { child, failure } = await step(processes.peer('scale-clients', args, 'connected', STEP_TIMEOUT_MS));
        failures.push(failure);
        const at = (connected += connections);
        series.push({ connections: at, streams: 0, ...(await gatewayMemory(gw)) });
        return child;
      }),
    );
    const connectSeconds = (performance.now() - t0) / 1000;
    const afterConnections = await read();
    ctx.log(`${o.connections} connections open from ${clientCount} processes in ${connectSeconds.toFixed(1)} s`);

    // Every load generator opens its streams at once; the CPU each process spends on it says where the time goes.
    let opened = 0;
    const pids: Record<string, number | undefined> = { gateway: gw.child.process.pid };
    services.forEach((c, i) => (pids[`service ${i}`] = c.process.pid));
    clients.forEach((c, i) => (pids[`load generator ${i}`] = c.process.pid));
    const gc0 = gcSeconds(await getMetrics(gw));
    const t1 = performance.now();
    const { cpu } = await cpuDuring(pids, () =>
      Promise.all(
        clients.map(async (c) => {
          c.process.send({ type: 'open' });
          const { streams } = await step(withTimeout(c.message<{ streams: number }>('opened', openTimeoutMs(o.streams)), openTimeoutMs(o.streams), 'opening streams'));
          const at = (opened += streams);
          series.push({ connections: o.connections, streams: at, ...(await gatewayMemory(gw)) });
        }),
      ),
    );
    const openSeconds = (performance.now() - t1) / 1000;
    const sumCpu = (prefix: string) => sum(Object.entries(cpu).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v ?? 0));
    const openCpuPerStreamUs = { gateway: (sumCpu('gateway') / opened) * 1e6, services: (sumCpu('service') / opened) * 1e6, loadGenerators: (sumCpu('load generator') / opened) * 1e6 };
    const metrics = await getMetrics(gw);
    const gc1 = gcSeconds(metrics);
    const openGcPerStreamUs = { minor: ((gc1.minor - gc0.minor) / opened) * 1e6, major: ((gc1.major - gc0.major) / opened) * 1e6 };
    const afterStreams = await read();
    const gatewayStreams = sumMetric(metrics, 'sluice_streams_active');
    const gatewayConnections = sumMetric(metrics, 'sluice_connections', 'role="client"');
    ctx.log(`${opened} streams open in ${openSeconds.toFixed(1)} s (CPU per stream: gateway ${openCpuPerStreamUs.gateway.toFixed(0)} µs of which garbage collection ${openGcPerStreamUs.minor.toFixed(1)} minor + ${openGcPerStreamUs.major.toFixed(1)} major, services ${openCpuPerStreamUs.services.toFixed(0)} µs, load generators ${openCpuPerStreamUs.loadGenerators.toFixed(0)} µs); the gateway reports ${gatewayConnections} client connections and ${gatewayStreams} active streams`);
    const peak: ProcessMemory[] = [...services, ...clients].map((c) => ({ name: c.name, rss: procRss(c.process.pid) ?? 0 }));

    const sourcesBeforeCancel = await openSources(services);
    const share = Math.ceil(o.sample / clients.length);
    const results = await Promise.all(
      clients.map((c) => {
        c.process.send({ type: 'sample', count: share, n: o.sampleRequest, rounds: o.sampleRounds });
        return step(withTimeout(c.message<SampleResult>('sampled', STEP_TIMEOUT_MS), STEP_TIMEOUT_MS, 'the demand check'));
      }),
    );
    const sampleResult: SampleResult = {
      streams: sum(results.map((r) => r.streams)),
      exact: sum(results.map((r) => r.exact)),
      wrong: sum(results.map((r) => r.wrong)),
      problems: results.flatMap((r) => r.problems).slice(0, 5),
    };
    // The cancels travel client -> gateway -> service: poll (bounded) until the services' count settles.
    let sourcesAfterCancel = await openSources(services);
    for (let i = 0; i < 100 && sourcesAfterCancel > sourcesBeforeCancel - sampleResult.streams; i++) {
      await pause(100);
      sourcesAfterCancel = await openSources(services);
    }
    ctx.log(`sample: ${sampleResult.exact} of ${sampleResult.streams} streams got exactly what they requested; open sources ${sourcesBeforeCancel} -> ${sourcesAfterCancel} after cancelling them`);
    return {
      options: o,
      baseline,
      afterConnections,
      afterStreams,
      perConnection: per(baseline, afterConnections, o.connections),
      perStream: per(afterConnections, afterStreams, opened),
      connectSeconds,
      openSeconds,
      openCpuPerStreamUs,
      openGcPerStreamUs,
      gatewayConnections,
      gatewayStreams,
      sampleResult,
      sourcesBeforeCancel,
      sourcesAfterCancel,
      processes: peak,
      // Readings finish in any order when the load generators run at once.
      series: series.sort((a, b) => a.connections + a.streams - (b.connections + b.streams)),
    };
  } finally {
    await processes.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The gateway's config for the scenario: room for every connection and
 * stream, raised explicitly here. The per-address cap keeps its default.
 */
/** The gateway's default `limits.serviceReserveRatio`: the share of connection slots clients cannot take. */
const DEFAULT_SERVICE_RESERVE = 0.1;

async function writeConfig(dir: string, o: ScaleOptions): Promise<string> {
  // What one bench service serves at once: the gateway holds each instance to it, and refuses beyond (OVERLOADED).
  const perInstance = DEFAULT_MAX_CONCURRENT;
  const config = {
    limits: {
      // Clients get (1 - serviceReserveRatio) of the slots (the default keeps 10% for services): size the total so every client fits.
      maxConnections: Math.ceil((o.connections + 1_000) / (1 - DEFAULT_SERVICE_RESERVE)),
      maxStreamsPerInstance: perInstance,
      // Each stream holds the item asked ahead of its demand (about 60 bytes): 1M of them need more than the default 32 MiB.
      memoryBudgetBytes: 512 * 1024 * 1024,
    },
    policies: {
      routes: {
        // Every stream comes from the anonymous identity: it may hold them all (by default an identity gets half a route).
        'bench.source': { bulkhead: { maxConcurrent: o.streams + o.sample, maxConcurrentPerInstance: perInstance, maxPerIdentity: o.streams + o.sample } },
      },
    },
  };
  const file = join(dir, 'gateway.json');
  await writeFile(file, JSON.stringify(config));
  return file;
}

async function getMetrics(gw: GatewayProcess): Promise<string> {
  return (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
}

/** RSS from /proc (cheap at any size), heap from the gateway's own metrics. */
async function gatewayMemory(gw: GatewayProcess): Promise<MemoryReading> {
  const m = await scrapeMemory(gw.adminUrl, 30_000);
  return { rss: procRss(gw.child.process.pid) ?? m.rss, heapUsed: m.heapUsed };
}

/** Open bench.source streams the services report (each answers a `report` over IPC). */
async function openSources(services: readonly Child[]): Promise<number> {
  const reports = await Promise.all(
    services.map((s) => {
      const answer = s.message<{ openSources: number }>('report', 10_000);
      s.process.send({ type: 'report' });
      return answer;
    }),
  );
  return sum(reports.map((r) => r.openSources));
}

/** Resident set size of `pid` in bytes from /proc/<pid>/status, or undefined. */
export function procRss(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Seconds the gateway has spent in garbage collection, from prom-client's
 * default metrics: scavenges (minor), and full collections with their
 * incremental marking steps (major).
 */
function gcSeconds(text: string): { minor: number; major: number } {
  const of = (kind: string) => sumMetric(text, 'sluice_nodejs_gc_duration_seconds_sum', `kind="${kind}"`);
  return { minor: of('minor'), major: of('major') + of('incremental') };
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

function per(a: MemoryReading, b: MemoryReading, n: number): MemoryReading {
  return { rss: (b.rss - a.rss) / n, heapUsed: (b.heapUsed - a.heapUsed) / n };
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
