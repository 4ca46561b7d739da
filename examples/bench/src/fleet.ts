/**
 * One gateway against two: request-response (bench.echo) through a single
 * gateway, and through a fleet of two gateways sharing the load (the bench
 * service connected to both, client connections split between them), in
 * the same run, runs alternating between the sides. With the gateways' CPU
 * time per request from /proc, which is what sizes a fleet: throughput on a
 * shared two-core machine says little about a fleet of machines, CPU per
 * forwarded message does.
 */
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import type { Connection } from '../../../src/rsocket/connection.js';
import { measureRequestResponse } from './auth-cost.js';
import { Processes, median } from './processes.js';
import { cpuDuring } from './proc-cpu.js';
import type { BenchContext } from './scenario.js';

export interface FleetBenchOptions {
  /** Requests per measured run, over all connections. */
  requests: number;
  /** Requests outstanding at once (closed loop), spread over the connections. */
  concurrency: number;
  /** Client connections per side (split evenly over the fleet's gateways). */
  connections: number;
  /** Measured runs per side (alternating), after one warm-up each. */
  runs: number;
}

export interface FleetBenchResult {
  readonly options: FleetBenchOptions;
  /** Requests per second, median of the runs: one gateway, two gateways. */
  readonly one: number;
  readonly two: number;
  /** two / one. */
  readonly ratio: number;
  /** Gateway CPU µs per request (all gateways of the side together), median of the runs; undefined without /proc. */
  readonly cpuPerRequestUs: { readonly one: number | undefined; readonly two: number | undefined };
  readonly samples: { readonly one: readonly number[]; readonly two: readonly number[] };
}

export function fleetBenchDefaults(quick: boolean): FleetBenchOptions {
  // An even number of runs, so each side goes first in half of them (see auth-cost.ts: with an odd number, two
  // identical sides came out up to 25% apart, the side going first more often leading).
  return quick ? { requests: 20_000, concurrency: 64, connections: 4, runs: 2 } : { requests: 40_000, concurrency: 64, connections: 4, runs: 6 };
}

export async function runFleetBench(ctx: BenchContext, options: Partial<FleetBenchOptions> = {}): Promise<FleetBenchResult> {
  const o = { ...fleetBenchDefaults(ctx.quick), ...options };
  const processes = new Processes();
  const conns: { one: Connection[]; two: Connection[] } = { one: [], two: [] };
  try {
    const single = await processes.gateway();
    const pair = [await processes.gateway(), await processes.gateway()];
    await processes.service('bench', single.url, 'bench-fleet-one');
    // One service instance connected to both gateways of the fleet, as a deployment runs it.
    await processes.service('bench', pair.map((g) => g.url).join(','), 'bench-fleet-two');
    for (let i = 0; i < o.connections; i++) {
      conns.one.push(await establish(nodeTransport, { url: single.url }));
      conns.two.push(await establish(nodeTransport, { url: pair[i % pair.length]!.url }));
    }
    const pids = { one: { g: single.child.process.pid }, two: { a: pair[0]!.child.process.pid, b: pair[1]!.child.process.pid } };
    const warm = Math.min(o.requests, 5_000);
    await measureRequestResponse(conns.one, warm, o.concurrency);
    await measureRequestResponse(conns.two, warm, o.concurrency);
    const samples = { one: [] as number[], two: [] as number[] };
    const cpu = { one: [] as number[], two: [] as number[] };
    for (let r = 0; r < o.runs; r++) {
      const order = r % 2 === 0 ? (['one', 'two'] as const) : (['two', 'one'] as const);
      for (const side of order) {
        const m = await cpuDuring(pids[side], () => measureRequestResponse(conns[side], o.requests, o.concurrency));
        samples[side].push(m.result);
        const seconds = Object.values(m.cpu);
        if (seconds.every((s) => s !== undefined)) cpu[side].push(((seconds as number[]).reduce((a, b) => a + b, 0) * 1e6) / o.requests);
      }
      ctx.log(`run ${r + 1}/${o.runs}: one gateway ${Math.round(samples.one.at(-1)!)} req/s, two gateways ${Math.round(samples.two.at(-1)!)} req/s`);
    }
    const one = median(samples.one);
    const two = median(samples.two);
    return {
      options: o,
      one,
      two,
      ratio: two / one,
      cpuPerRequestUs: { one: cpu.one.length ? median(cpu.one) : undefined, two: cpu.two.length ? median(cpu.two) : undefined },
      samples,
    };
  } finally {
    for (const c of [...conns.one, ...conns.two]) c.close();
    await processes.stopAll();
  }
}
