/**
 * Durable cost: commands through a durable route against the same route not
 * durable, for both backends, and the JetStream backend against nats.js
 * publishing to and consuming from a JetStream stream directly.
 *
 * A command counts once it has done the whole trip: the client has its
 * answer (plain route: the service's reply; durable route: the
 * acknowledgement that it is persisted) and the service has handled it
 * (durable: the gateway's `sluice_durable_delivered_total` reaches the count).
 * Every side runs `concurrency` requests outstanding over `connections`, so
 * the numbers compare like for like. The gateways and bench services are
 * child processes; runs alternate between the sides.
 *
 * nats.js direct: `concurrency` publishes outstanding to a work-queue stream
 * (file storage, one replica) while one pull consumer fetches and acks, the
 * same work the gateway's JetStream backend does for each command.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import type { Connection } from '../../../src/rsocket/connection.js';
import { measureRequestResponse } from './auth-cost.js';
import { startJetStream, type JetStreamCluster } from './jetstream-cluster.js';
import { Processes, median, withTimeout, type GatewayProcess } from './processes.js';
import type { BenchContext } from './scenario.js';

export interface DurableCostOptions {
  /** Commands per measured run. */
  requests: number;
  /** Commands outstanding at once (closed loop), spread over the connections. */
  concurrency: number;
  connections: number;
  /** Measured runs per side, after one warm-up each. */
  runs: number;
}

export interface DurableCostResult {
  readonly options: DurableCostOptions;
  readonly natsServer: string;
  /** Commands per second, median of the runs. */
  readonly plain: number;
  readonly embedded: number;
  readonly jetstream: number;
  /** nats.js publishing to and consuming from JetStream directly. */
  readonly natsDirect: number;
  /** embedded / plain, jetstream / plain, jetstream / natsDirect. */
  readonly ratios: { readonly embedded: number; readonly jetstream: number; readonly jetstreamVsNats: number };
  readonly samples: Readonly<Record<'plain' | 'embedded' | 'jetstream' | 'natsDirect', readonly number[]>>;
}

export function durableCostDefaults(quick: boolean): DurableCostOptions {
  // An even number of runs, so the order (which reverses every run) puts each side first and last equally often.
  return quick ? { requests: 5_000, concurrency: 64, connections: 4, runs: 2 } : { requests: 20_000, concurrency: 64, connections: 4, runs: 4 };
}

const ROUTE = 'bench.echo';
const DURABLE_POLICY = `${ROUTE}:durable={"enabled":true,"delivery":"response"}`;

export async function runDurableCost(ctx: BenchContext, options: Partial<DurableCostOptions> = {}): Promise<DurableCostResult> {
  const o = { ...durableCostDefaults(ctx.quick), ...options };
  const processes = new Processes();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-durable-'));
  let nats: JetStreamCluster | undefined;
  const conns: Record<'plain' | 'embedded' | 'jetstream', Connection[]> = { plain: [], embedded: [], jetstream: [] };
  try {
    nats = await startJetStream(1);
    const gws: Record<'plain' | 'embedded' | 'jetstream', GatewayProcess> = {
      plain: await processes.gateway(),
      embedded: await processes.gateway(['--durable-dir', join(dir, 'durable'), '--dead-letter-dir', join(dir, 'dlq-e'), '--policy', DURABLE_POLICY]),
      jetstream: await processes.gateway(['--nats', nats.servers.join(','), '--dead-letter-dir', join(dir, 'dlq-j'), '--policy', DURABLE_POLICY]),
    };
    for (const side of ['plain', 'embedded', 'jetstream'] as const) {
      await processes.service('bench', gws[side].url, `bench-${side}`);
      for (let i = 0; i < o.connections; i++) conns[side].push(await establish(nodeTransport, { url: gws[side].url }));
    }
    const measure = async (side: 'plain' | 'embedded' | 'jetstream', n: number): Promise<number> => {
      const t0 = performance.now();
      const before = side === 'plain' ? 0 : await delivered(gws[side].adminUrl);
      await measureRequestResponse(conns[side], n, o.concurrency);
      if (side !== 'plain') await withTimeout(waitDelivered(gws[side].adminUrl, before + n), 120_000, `${side}: ${n} commands delivered`);
      return n / ((performance.now() - t0) / 1000);
    };
    const direct = await natsDirect(nats.servers, o.concurrency);
    const warm = Math.min(o.requests, 2_000);
    for (const side of ['plain', 'embedded', 'jetstream'] as const) await measure(side, warm);
    await direct(warm);
    const samples = { plain: [] as number[], embedded: [] as number[], jetstream: [] as number[], natsDirect: [] as number[] };
    for (let r = 0; r < o.runs; r++) {
      const order = r % 2 === 0 ? (['plain', 'embedded', 'jetstream', 'natsDirect'] as const) : (['natsDirect', 'jetstream', 'embedded', 'plain'] as const);
      for (const side of order) samples[side].push(side === 'natsDirect' ? await direct(o.requests) : await measure(side, o.requests));
      ctx.log(`run ${r + 1}/${o.runs}: plain ${int(samples.plain.at(-1)!)}/s, durable embedded ${int(samples.embedded.at(-1)!)}/s, durable jetstream ${int(samples.jetstream.at(-1)!)}/s, nats.js direct ${int(samples.natsDirect.at(-1)!)}/s`);
    }
    await direct.close();
    const m = { plain: median(samples.plain), embedded: median(samples.embedded), jetstream: median(samples.jetstream), natsDirect: median(samples.natsDirect) };
    return {
      options: o,
      natsServer: nats.version,
      ...m,
      ratios: { embedded: m.embedded / m.plain, jetstream: m.jetstream / m.plain, jetstreamVsNats: m.jetstream / m.natsDirect },
      samples,
    };
  } finally {
    for (const c of Object.values(conns).flat()) c.close();
    await processes.stopAll();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function delivered(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`sluice_durable_delivered_total{route="${ROUTE}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function waitDelivered(adminUrl: string, n: number): Promise<void> {
  while ((await delivered(adminUrl)) < n) await new Promise((r) => setTimeout(r, 20));
}

/** nats.js against JetStream directly: `n` messages published (`concurrency` outstanding) and consumed with acks; resolves with messages per second. */
async function natsDirect(servers: string[], concurrency: number): Promise<((n: number) => Promise<number>) & { close(): Promise<void> }> {
  const nc = await connect({ servers });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: 'BENCH_DIRECT', subjects: ['bench.direct'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1 });
  await jsm.consumers.add('BENCH_DIRECT', { durable_name: 'bench', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
  const consumer = await js.consumers.get('BENCH_DIRECT', 'bench');
  const data = new TextEncoder().encode(JSON.stringify({ hello: 'sluice', pad: 'x'.repeat(64) }));
  const run = async (n: number): Promise<number> => {
    const t0 = performance.now();
    let published = 0;
    const lanes = Array.from({ length: concurrency }, async () => {
      while (published < n) {
        published++;
        await js.publish('bench.direct', data);
      }
    });
    let consumed = 0;
    const consuming = (async () => {
      while (consumed < n) {
        const batch = await consumer.fetch({ max_messages: Math.min(256, n - consumed), expires: 1_000 });
        for await (const m of batch) {
          m.ack();
          consumed++;
        }
      }
    })();
    await withTimeout(Promise.all([...lanes, consuming]), 120_000, `nats.js direct: ${n} messages`);
    return n / ((performance.now() - t0) / 1000);
  };
  return Object.assign(run, { close: () => nc.close() });
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');
