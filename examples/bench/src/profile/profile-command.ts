/**
 * `sluice-bench profile`: runs one hot-path workload (request-response closed
 * loop, or bench.source streams at a prefetch) against a gateway and a bench
 * service started under `node --cpu-prof`, then prints each process's top
 * functions by self time. This is how BENCHMARKS.md's "Where the time goes"
 * is measured: the same workload as the NATS and hop-cost scenarios.
 */
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'sluice/client';
import { establish } from '../../../../src/client/connector.js';
import { nodeTransport } from '../../../../src/transport/client-transport.js';
import { systemClock } from '../../../../src/loadtest/clock.js';
import { runRequestReply } from '../../../../src/loadtest/request-reply.js';
import { padding } from '../../../../src/loadtest/run.js';
import { RunStats } from '../../../../src/loadtest/stats.js';
import { intFlag, parseFlags } from '../../../../src/cli/args.js';
import { measureStreams } from '../hop-cost.js';
import { Processes } from '../processes.js';
import { cpuDuring } from '../proc-cpu.js';
import { ScaleClients } from '../peers/scale-clients.js';
import { selfTimes } from './cpu-profile.js';

const usage = `usage: sluice-bench profile --workload rr|stream|open [options]

  --workload rr|stream|open
                         request-response closed loop (100 concurrent), 4 bench.source streams,
                         or opening bench.source streams (one item of demand each) on one service
  --seconds N            rr: seconds of load (default 8)
  --items N              stream: items per stream (default 200000)
  --prefetch N           stream: consumer prefetch (default 256)
  --streams N            open: streams to open (default 20000)
  --connections N        open: client connections they are spread over (default 200)
  --top N                functions to print per process (default 15)
  --dir DIR              where the .cpuprofile files go (default a new temporary directory)
  --no-profile           only measure (CPU per request or item from /proc), without --cpu-prof
  --node-args="ARGS"     extra node options for the gateway and the service (space-separated:
                         --trace-gc, --max-semi-space-size=N); node rejects some in NODE_OPTIONS
`;

export async function profileCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    { workload: { type: 'string' }, streams: { type: 'string' }, connections: { type: 'string' }, seconds: { type: 'string' }, items: { type: 'string' }, prefetch: { type: 'string' }, top: { type: 'string' }, dir: { type: 'string' }, 'no-profile': { type: 'boolean' }, 'node-args': { type: 'string' } },
    usage,
  );
  const workload = String(f.workload ?? '');
  if (workload !== 'rr' && workload !== 'stream' && workload !== 'open') throw new Error(`--workload must be rr, stream or open\n${usage}`);
  const streams = intFlag(f.streams, '--streams', 1, 1_000_000) ?? 20_000;
  const connections = intFlag(f.connections, '--connections', 1, 1_000) ?? 200;
  const seconds = intFlag(f.seconds, '--seconds', 1, 600) ?? 8;
  const items = intFlag(f.items, '--items', 1, 10_000_000) ?? 200_000;
  const prefetch = intFlag(f.prefetch, '--prefetch', 1, 1 << 20) ?? 256;
  const top = intFlag(f.top, '--top', 1, 200) ?? 15;
  const dir = typeof f.dir === 'string' ? f.dir : await mkdtemp(join(tmpdir(), 'sluice-profile-'));
  const out = (line: string) => process.stdout.write(`${line}\n`);

  const processes = new Processes();
  const dirs = { gateway: join(dir, 'gateway'), service: join(dir, 'service') };
  const profile = f['no-profile'] !== true;
  const extra = typeof f['node-args'] === 'string' ? f['node-args'].split(/\s+/).filter(Boolean) : [];
  const prof = (d: string) => [...extra, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${d}`] : [])];
  let work = 0;
  try {
    const gw = await processes.gateway(workload === 'open' ? ['--config', await openConfig(dir, streams)] : [], prof(dirs.gateway));
    const service = await processes.service('bench', gw.url, undefined, [], {}, prof(dirs.service));
    // The requester is this process: its CPU per message counts in the benchmarks' ratios too.
    const pids = { gateway: gw.child.process.pid, service: service.process.pid, requester: process.pid };
    if (workload === 'rr') {
      const client = await connect({ url: gw.url });
      const pad = padding(100);
      const call = (i: number) => client.requestResponse('bench.echo', { seq: i, pad });
      const run = async (durationMs: number) => {
        const stats = new RunStats(systemClock.now());
        await runRequestReply({ call, concurrency: 100, maxInFlight: 10_000, count: 1e9, durationMs, drainMs: 5_000, clock: systemClock, stats });
        return stats;
      };
      await run(1_000);
      const { result, cpu } = await cpuDuring(pids, () => run(seconds * 1000));
      work = result.completed;
      out(`request-response: ${result.completed} answers in ${seconds} s; CPU per request: gateway ${perItem(cpu.gateway, work)}, service ${perItem(cpu.service, work)}, requester ${perItem(cpu.requester, work)}`);
      client.close();
    } else if (workload === 'open') {
      // A warm-up round opens and closes a tenth as many streams first, so start-up is not counted.
      const warm = new ScaleClients({ url: gw.url, localAddress: '127.0.0.1', connections: Math.min(connections, 20), streams: Math.max(1, Math.floor(streams / 10)) });
      await warm.connect();
      await warm.openStreams();
      warm.close();
      const clients = new ScaleClients({ url: gw.url, localAddress: '127.0.0.1', connections, streams });
      await clients.connect();
      const t0 = performance.now();
      const { result, cpu } = await cpuDuring(pids, () => clients.openStreams());
      const elapsed = (performance.now() - t0) / 1000;
      work = result;
      out(`opened ${result} streams over ${connections} connections (each to its first item) in ${elapsed.toFixed(2)} s: ${Math.round(result / elapsed)} streams/s; CPU per stream: gateway ${perItem(cpu.gateway, work)}, service ${perItem(cpu.service, work)}, requester ${perItem(cpu.requester, work)}`);
      clients.close();
    } else {
      const conn = await establish(nodeTransport, { url: gw.url, limits: { maxOutboundStreams: 1 << 20 } });
      const shape = { streams: 4, items, size: 100, prefetch };
      await measureStreams(conn, { ...shape, items: Math.min(items, 20_000) });
      const { result, cpu } = await cpuDuring(pids, () => measureStreams(conn, shape));
      work = shape.streams * items;
      out(`streams at prefetch ${prefetch}: ${Math.round(result)} items/s; CPU per item: gateway ${perItem(cpu.gateway, work)}, service ${perItem(cpu.service, work)}, requester ${perItem(cpu.requester, work)}`);
      conn.close();
    }
  } finally {
    await processes.stopAll();
  }
  if (!profile) return;
  for (const [name, d] of Object.entries(dirs)) {
    const files = (await readdir(d)).filter((n) => n.endsWith('.cpuprofile'));
    for (const file of files) {
      const { totalMicros, busyMicros, top: fns } = await selfTimes(join(d, file));
      out(`\n${name} (${join(d, file)}): ${(busyMicros / 1e6).toFixed(2)} s busy of ${(totalMicros / 1e6).toFixed(2)} s sampled`);
      for (const fn of fns.slice(0, top)) out(`  ${(fn.busyShare * 100).toFixed(1).padStart(5)}%  ${fn.fn}`);
    }
  }
}

/** A gateway config with room for `streams` on one instance and route (the scale scenario's limits, for one service). */
async function openConfig(dir: string, streams: number): Promise<string> {
  const room = streams * 2;
  const config = {
    limits: { maxStreamsPerInstance: room, memoryBudgetBytes: 512 * 1024 * 1024 },
    policies: { routes: { 'bench.source': { bulkhead: { maxConcurrent: room, maxConcurrentPerInstance: room, maxPerIdentity: room } } } },
  };
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'gateway.json');
  await writeFile(file, JSON.stringify(config));
  return file;
}

function perItem(cpuSeconds: number | undefined, n: number): string {
  if (cpuSeconds === undefined || n === 0) return 'n/a';
  // Hundredths below 10 µs: a streamed item costs each process well under a microsecond.
  const us = (cpuSeconds * 1e6) / n;
  return `${us.toFixed(us < 10 ? 2 : 1)} µs`;
}
