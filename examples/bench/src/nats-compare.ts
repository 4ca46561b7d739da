/**
 * The peer a user would pick instead: the same request-reply and streaming
 * workloads through Sluice and through core NATS (Debian's nats-server, the
 * official nats.js client). Both have the same hop structure:
 * client -> broker -> service -> broker -> client, each piece its own process.
 *
 * - request-reply: closed loop, 100 concurrent, ~100-byte JSON payloads, one
 *   connection each; the services decode and re-encode the JSON alike.
 * - streaming: 4 concurrent streams of ~100-byte items. Sluice with demand at
 *   two consumer prefetch depths; NATS as it is used for this (a request
 *   whose reply subject receives the items), with no per-consumer demand.
 * - p99 against offered load: open loop at fractions of Sluice's closed-loop
 *   throughput, the same rates for both.
 */
import type { NatsConnection } from 'nats';
import { connect, type Client } from 'sluice/client';
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import { systemClock } from '../../../src/loadtest/clock.js';
import { runRequestReply } from '../../../src/loadtest/request-reply.js';
import { padding } from '../../../src/loadtest/run.js';
import { RunStats } from '../../../src/loadtest/stats.js';
import { measureStreams } from './hop-cost.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { loadNats } from './peers/nats-service.js';
import { Processes, median } from './processes.js';
import { cpuDuring } from './proc-cpu.js';
import { unavailable, type BenchContext, type Unavailable } from './scenario.js';

export interface RequestReplyStats {
  /** Answers per second while sending. */
  readonly throughput: number;
  /** Successful answers. */
  readonly completed: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: Readonly<Record<string, number>>;
}

export interface SweepPoint extends RequestReplyStats {
  /** Requests per second offered (open loop). */
  readonly offered: number;
}

/** CPU microseconds per request of the broker and the service processes (from /proc), over the closed-loop runs. */
export interface CpuPerRequest {
  readonly broker: number | null;
  readonly service: number | null;
}

export interface NatsCompareResult {
  readonly nats: { readonly available: true; readonly version: string } | Unavailable;
  /** Where the difference in request-reply goes: CPU per request in each process (null where /proc is unreadable). */
  readonly cpuPerRequest: { readonly sluice: CpuPerRequest; readonly nats: CpuPerRequest | null };
  readonly requestReply: { readonly concurrency: number; readonly size: number; readonly durationS: number; readonly runs: number; readonly sluice: RequestReplyStats; readonly nats: RequestReplyStats | null };
  readonly streaming: {
    readonly streams: number;
    readonly items: number;
    readonly size: number;
    readonly runs: number;
    readonly sluice: ReadonlyArray<{ readonly prefetch: number; readonly rate: number }>;
    readonly nats: { readonly rate: number; readonly lost: number } | null;
  };
  readonly sweep: { readonly durationS: number; readonly sluice: readonly SweepPoint[]; readonly nats: readonly SweepPoint[] | null };
}

interface Options {
  concurrency: number;
  size: number;
  rrDurationS: number;
  runs: number;
  streams: number;
  items: number;
  prefetches: readonly number[];
  sweepFractions: readonly number[];
  sweepDurationS: number;
}

function defaults(quick: boolean): Options {
  return quick
    ? { concurrency: 100, size: 100, rrDurationS: 3, runs: 1, streams: 4, items: 25_000, prefetches: [256, 1024], sweepFractions: [0.3, 0.6, 0.9], sweepDurationS: 2 }
    : { concurrency: 100, size: 100, rrDurationS: 8, runs: 2, streams: 4, items: 100_000, prefetches: [256, 1024], sweepFractions: [0.2, 0.4, 0.6, 0.8, 1, 1.2], sweepDurationS: 4 };
}

type Call = (i: number) => Promise<unknown>;

async function requestReply(call: Call, o: { concurrency?: number; rate?: number; durationS: number }): Promise<RequestReplyStats> {
  const stats = new RunStats(systemClock.now());
  const r = await runRequestReply({
    call,
    ...(o.rate !== undefined ? { rate: o.rate } : { concurrency: o.concurrency ?? 1 }),
    maxInFlight: 10_000,
    count: 1e9,
    durationMs: o.durationS * 1000,
    drainMs: 5_000,
    clock: systemClock,
    stats,
  });
  const s = stats.latency.summary();
  return { throughput: stats.completedWhileSending / (r.sendingMs / 1000), completed: stats.completed, p50: s.p50, p99: s.p99, errors: stats.errors.toJSON() };
}

/** Median by throughput of several runs (the whole run's numbers, not a mix). */
function medianRun(runs: RequestReplyStats[]): RequestReplyStats {
  const m = median(runs.map((r) => r.throughput));
  return runs.reduce((best, r) => (Math.abs(r.throughput - m) < Math.abs(best.throughput - m) ? r : best));
}

async function measureNatsStreams(nc: NatsConnection, nats: typeof import('nats'), o: { streams: number; items: number; size: number }): Promise<{ rate: number; lost: number }> {
  const enc = new TextEncoder();
  const start = performance.now();
  let lost = 0;
  await Promise.all(
    Array.from(
      { length: o.streams },
      () =>
        new Promise<void>((resolve) => {
          const inbox = nats.createInbox();
          let received = 0;
          // Core NATS is at-most-once: a stream that goes quiet before its last item has lost the rest.
          let idle: ReturnType<typeof setTimeout> | undefined;
          const finish = () => {
            clearTimeout(idle);
            lost += o.items - received;
            sub.unsubscribe();
            resolve();
          };
          const arm = () => {
            clearTimeout(idle);
            idle = setTimeout(finish, 5_000);
          };
          const sub = nc.subscribe(inbox, {
            callback: () => {
              if (++received === o.items) finish();
              else if (received % 1000 === 0) arm();
            },
          });
          arm();
          nc.publish('bench.source', enc.encode(JSON.stringify({ count: o.items, size: o.size })), { reply: inbox });
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  return { rate: (o.streams * o.items - lost) / seconds, lost };
}

export async function runNatsCompare(ctx: BenchContext, options: Partial<Options> = {}): Promise<NatsCompareResult> {
  const o = { ...defaults(ctx.quick), ...options };
  const processes = new Processes();
  let natsServer: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let client: Client | undefined;
  let natsStatus: NatsCompareResult['nats'];
  let nats: typeof import('nats') | undefined;
  try {
    const gw = await processes.gateway();
    const benchService = await processes.service('bench', gw.url);
    const sluicePids = { broker: gw.child.process.pid, service: benchService.process.pid };
    let natsPids: { broker: number | undefined; service: number | undefined } | undefined;
    client = await connect({ url: gw.url });
    const streamConn = await establish(nodeTransport, { url: gw.url, limits: { maxOutboundStreams: 1 << 20 } });
    try {
      nats = await loadNats();
      natsServer = await startNatsServer();
      const natsService = await processes.peer('nats-service', ['--nats', natsServer.url]);
      natsPids = { broker: natsServer.pid, service: natsService.child.process.pid };
      nc = await nats.connect({ servers: natsServer.url, name: 'sluice-bench-client' });
      natsStatus = { available: true, version: natsServer.version };
    } catch (err) {
      natsStatus = unavailable((err as Error).message);
      ctx.log(`NATS not available: ${natsStatus.reason}; measuring Sluice only`);
    }
    const pad = padding(o.size);
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const sluiceCall: Call = (i) => client!.requestResponse('bench.echo', { seq: i, pad });
    const natsCall: Call | undefined = nc
      ? (i) => nc!.request('bench.echo', enc.encode(JSON.stringify({ seq: i, pad })), { timeout: 10_000 }).then((m) => JSON.parse(dec.decode(m.data)) as unknown)
      : undefined;

    // Request-reply, closed loop: warm both up, then alternate.
    await requestReply(sluiceCall, { concurrency: o.concurrency, durationS: 1 });
    if (natsCall) await requestReply(natsCall, { concurrency: o.concurrency, durationS: 1 });
    const rr = { sluice: [] as RequestReplyStats[], nats: [] as RequestReplyStats[] };
    const cpu = { sluice: new CpuTally(), nats: new CpuTally() };
    for (let r = 0; r < o.runs; r++) {
      const sluiceRun = async () => {
        const s = await cpuDuring(sluicePids, () => requestReply(sluiceCall, { concurrency: o.concurrency, durationS: o.rrDurationS }));
        rr.sluice.push(s.result);
        cpu.sluice.add(s.cpu, s.result.completed);
      };
      const natsRun = async () => {
        if (!natsCall || !natsPids) return;
        const n = await cpuDuring(natsPids, () => requestReply(natsCall, { concurrency: o.concurrency, durationS: o.rrDurationS }));
        rr.nats.push(n.result);
        cpu.nats.add(n.cpu, n.result.completed);
      };
      // The side that goes first alternates by run: in A/A runs of this machine, the side going first more often led by up to 25%.
      if (r % 2 === 0) await sluiceRun().then(natsRun);
      else await natsRun().then(sluiceRun);
      ctx.log(`request-reply run ${r + 1}/${o.runs}: Sluice ${fmt(rr.sluice.at(-1)!.throughput)}/s${natsCall ? `, NATS ${fmt(rr.nats.at(-1)!.throughput)}/s` : ''}`);
    }
    const sluiceRR = medianRun(rr.sluice);

    // Streaming.
    const shape = { streams: o.streams, items: o.items, size: o.size };
    const sluiceStreams: Array<{ prefetch: number; samples: number[] }> = o.prefetches.map((prefetch) => ({ prefetch, samples: [] }));
    const natsStreams: Array<{ rate: number; lost: number }> = [];
    for (const s of sluiceStreams) await measureStreams(streamConn, { ...shape, items: Math.min(o.items, 20_000), prefetch: s.prefetch });
    if (nc && nats) await measureNatsStreams(nc, nats, { ...shape, items: Math.min(o.items, 20_000) });
    for (let r = 0; r < o.runs; r++) {
      const sluiceRuns = async () => {
        for (const s of sluiceStreams) s.samples.push(await measureStreams(streamConn, { ...shape, prefetch: s.prefetch }));
      };
      const natsRun = async () => {
        if (nc && nats) natsStreams.push(await measureNatsStreams(nc, nats, shape));
      };
      if (r % 2 === 0) await sluiceRuns().then(natsRun);
      else await natsRun().then(sluiceRuns);
      ctx.log(`streaming run ${r + 1}/${o.runs}: ${sluiceStreams.map((s) => `Sluice prefetch ${s.prefetch} ${fmt(s.samples.at(-1)!)}/s`).join(', ')}${natsStreams.length ? `, NATS ${fmt(natsStreams.at(-1)!.rate)}/s` : ''}`);
    }
    streamConn.close();

    // p99 against offered load, at the same rates for both.
    const sweep = { sluice: [] as SweepPoint[], nats: natsCall ? ([] as SweepPoint[]) : null };
    for (const fraction of o.sweepFractions) {
      const offered = Math.max(100, Math.round((sluiceRR.throughput * fraction) / 100) * 100);
      sweep.sluice.push({ offered, ...(await requestReply(sluiceCall, { rate: offered, durationS: o.sweepDurationS })) });
      if (natsCall) sweep.nats!.push({ offered, ...(await requestReply(natsCall, { rate: offered, durationS: o.sweepDurationS })) });
      ctx.log(`offered ${fmt(offered)}/s: Sluice p99 ${sweep.sluice.at(-1)!.p99.toFixed(2)} ms${natsCall ? `, NATS p99 ${sweep.nats!.at(-1)!.p99.toFixed(2)} ms` : ''}`);
    }

    return {
      nats: natsStatus,
      cpuPerRequest: { sluice: cpu.sluice.perRequest(), nats: natsCall ? cpu.nats.perRequest() : null },
      requestReply: { concurrency: o.concurrency, size: o.size, durationS: o.rrDurationS, runs: o.runs, sluice: sluiceRR, nats: rr.nats.length ? medianRun(rr.nats) : null },
      streaming: {
        ...shape,
        runs: o.runs,
        sluice: sluiceStreams.map((s) => ({ prefetch: s.prefetch, rate: median(s.samples) })),
        nats: natsStreams.length ? { rate: median(natsStreams.map((s) => s.rate)), lost: natsStreams.reduce((n, s) => n + s.lost, 0) } : null,
      },
      sweep: { durationS: o.sweepDurationS, ...sweep },
    };
  } finally {
    client?.close();
    await nc?.close().catch(() => {});
    await processes.stopAll();
    await natsServer?.stop();
  }
}

/** Sums CPU seconds and requests over runs; microseconds per request at the end. */
class CpuTally {
  private seconds = { broker: 0 as number | null, service: 0 as number | null };
  private requests = 0;

  add(cpu: Record<string, number | undefined>, requests: number): void {
    for (const k of ['broker', 'service'] as const) {
      const v = cpu[k];
      this.seconds[k] = v === undefined || this.seconds[k] === null ? null : this.seconds[k]! + v;
    }
    this.requests += requests;
  }

  perRequest(): CpuPerRequest {
    const per = (sec: number | null) => (sec === null || this.requests === 0 ? null : (sec * 1e6) / this.requests);
    return { broker: per(this.seconds.broker), service: per(this.seconds.service) };
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
