/**
 * Auth cost: request-response (bench.echo) through a gateway that verifies
 * tokens and checks every call against the caller's grant, against the same
 * through a gateway with auth off, in the same run. Both gateways and both
 * bench services run as separate processes side by side; runs alternate
 * between the two sides so that drift on a noisy machine hits both alike.
 *
 * Two gateways that differ in nothing (both auth off, A/A) came out up to
 * 25% apart when each side had an odd number of runs: the side that went
 * first in more of them led. So each side's runs are even in number, going
 * first in half of them, and they are spread over several pairs of gateways
 * (with their services and connections) set up afresh, the auth side set up
 * first in one pair and second in the next, so that no one draw of where the
 * scheduler puts a pair's processes decides the figure. The ratio is the
 * geometric mean of the pairs' own ratios: a pair's set-up is the same for
 * both of its sides, and whatever advantage one slot still has multiplies one
 * pair's ratio and divides the next's.
 *
 * Tokens are HS256 from a secret made for the run. Verification happens once
 * per connection (at SETUP), so what this measures is the per-request cost:
 * the permission lookup on the hot path.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { establish } from '../../../src/client/connector.js';
import { nodeTransport } from '../../../src/transport/client-transport.js';
import { mintToken } from '../../../src/auth/mint.js';
import type { SluiceError } from 'sluice';
import { encodeJson } from '../../../src/protocol/json.js';
import { routeMetadata } from 'sluice';
import type { Connection } from '../../../src/rsocket/connection.js';
import { Processes, geometricMean, median, withTimeout, type GatewayProcess } from './processes.js';
import { cpuDuring } from './proc-cpu.js';
import type { BenchContext } from './scenario.js';

export interface AuthCostOptions {
  /** Requests per measured run, over all connections. */
  requests: number;
  /** Requests outstanding at once (closed loop), spread over the connections. */
  concurrency: number;
  /** Client connections to each gateway. */
  connections: number;
  /** Pairs of gateways, set up in turn with the auth side first and second: even. */
  pairs: number;
  /** Measured runs per side in each pair, alternating which side goes first: even, so each goes first in half. */
  runs: number;
  /**
   * Before each pair's runs, both sides take turns at full runs until each has
   * had this many ms of load (at least one warm-up run each).
   */
  warmUpMs: number;
}

export interface AuthCostResult {
  /** `pairs` is absent from results saved before pairs: their runs were all on one pair. */
  readonly options: Omit<AuthCostOptions, 'pairs'> & { readonly pairs?: number };
  /** Requests per second, median of all runs: auth on, auth off. */
  readonly on: number;
  readonly off: number;
  /** on / off: the geometric mean of the pairs' ratios (for results saved before pairs, on / off of the medians). */
  readonly ratio: number;
  readonly samples: { readonly on: readonly number[]; readonly off: readonly number[] };
  /**
   * Each gateway's CPU µs per request over its measured runs (from /proc; null
   * where unreadable; absent from results saved before it was measured): a
   * second view of what the check costs, beside req/s. Not free of noise
   * either: two gateways both with auth off have differed by up to 1.1 µs.
   */
  readonly gatewayCpuPerRequest?: { readonly on: number | null; readonly off: number | null };
  /** Each pair's on / off (ratio of its medians), with the side set up first (absent from results saved before pairs). */
  readonly pairs?: readonly AuthCostPair[];
}

export interface AuthCostPair {
  /** The side whose gateway, service and connections were set up first. */
  readonly first: 'on' | 'off';
  readonly ratio: number;
}

export function authCostDefaults(quick: boolean): AuthCostOptions {
  // The full run warms up for seconds, not a fixed count: after 5,000 requests a side (a tenth of a second) runs were
  // still speeding up, 53,842 -> 116,412 req/s over five runs on Node 24, so the ratio of the medians said which side
  // the slow early runs fell on, not what checking a grant costs.
  // Runs of 100,000 requests (about a second), not 40,000: in shorter ones a neighbour's burst of load decided a run.
  return quick
    ? { requests: 20_000, concurrency: 64, connections: 4, pairs: 2, runs: 2, warmUpMs: 0 }
    : { requests: 100_000, concurrency: 64, connections: 4, pairs: 4, runs: 4, warmUpMs: 4_000 };
}

/** `requests` bench.echo calls, `concurrency` at a time over `conns`; resolves with requests per second. */
export async function measureRequestResponse(conns: readonly Connection[], requests: number, concurrency: number, timeoutMs = 120_000): Promise<number> {
  const metadata = routeMetadata('bench.echo');
  const data = encodeJson({ hello: 'sluice', pad: 'x'.repeat(64) });
  let started = 0;
  const one = (conn: Connection) =>
    new Promise<void>((resolve, reject) => {
      conn.requestResponse({ data, metadata }, { onNext: () => resolve(), onComplete: () => resolve(), onError: (e: SluiceError) => reject(e), onRequest: () => {}, onCancel: () => {} });
    });
  const lane = async (i: number) => {
    const conn = conns[i % conns.length]!;
    while (started < requests) {
      started++;
      await one(conn);
    }
  };
  const t0 = performance.now();
  await withTimeout(Promise.all(Array.from({ length: concurrency }, (_, i) => lane(i))), timeoutMs, `${requests} bench.echo requests`);
  return requests / ((performance.now() - t0) / 1000);
}

type Side = 'on' | 'off';

export async function runAuthCost(ctx: BenchContext, options: Partial<AuthCostOptions> = {}): Promise<AuthCostResult> {
  const o = { ...authCostDefaults(ctx.quick), ...options };
  if (o.pairs < 2 || o.pairs % 2 !== 0) throw new Error(`auth cost: pairs must be even and at least 2 (each side set up first as often as second), got ${o.pairs}`);
  if (o.runs < 2 || o.runs % 2 !== 0) throw new Error(`auth cost: runs must be even and at least 2 (each side going first in half of a pair's runs), got ${o.runs}`);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-auth-'));
  try {
    const secret = new Uint8Array(randomBytes(48));
    const secretFile = join(dir, 'auth-secret');
    await writeFile(secretFile, secret, { mode: 0o600 });
    const tokens = {
      service: await mintToken({ secret, subject: 'bench', grant: { service: 'bench', register: ['bench.*'] }, ttlMs: 3_600_000 }),
      client: await mintToken({ secret, subject: 'bench-client', grant: { call: ['bench.*'] }, ttlMs: 3_600_000 }),
    };
    const samples = { on: [] as number[], off: [] as number[] };
    const cpuSeconds: Record<Side, number | null> = { on: 0, off: 0 };
    const pairs: AuthCostPair[] = [];
    for (let i = 0; i < o.pairs; i++) {
      const first: Side = i % 2 === 0 ? 'on' : 'off';
      const pair = await runPair(ctx, o, first, secretFile, tokens);
      pairs.push({ first, ratio: median(pair.samples.on) / median(pair.samples.off) });
      for (const side of ['on', 'off'] as const) {
        samples[side].push(...pair.samples[side]);
        const used = pair.cpuSeconds[side];
        cpuSeconds[side] = used === null || cpuSeconds[side] === null ? null : cpuSeconds[side] + used;
      }
      ctx.log(`pair ${i + 1}/${o.pairs} (${first === 'on' ? 'auth' : 'auth-off'} side set up first): on / off ${pairs.at(-1)!.ratio.toFixed(3)}`);
    }
    const onRate = median(samples.on);
    const offRate = median(samples.off);
    const perRequest = (s: number | null) => (s === null ? null : (s * 1e6) / (o.pairs * o.runs * o.requests));
    const gatewayCpuPerRequest = { on: perRequest(cpuSeconds.on), off: perRequest(cpuSeconds.off) };
    ctx.log(`gateway CPU per request: auth on ${gatewayCpuPerRequest.on?.toFixed(2) ?? 'n/a'} µs, auth off ${gatewayCpuPerRequest.off?.toFixed(2) ?? 'n/a'} µs`);
    return { options: o, on: onRate, off: offRate, ratio: geometricMean(pairs.map((p) => p.ratio)), samples, gatewayCpuPerRequest, pairs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One pair: two gateways, a bench service behind each and the client
 * connections, every step done for `first` before the other side; then
 * warm-up and `runs` measured runs per side, alternating which goes first.
 */
async function runPair(
  ctx: BenchContext,
  o: AuthCostOptions,
  first: Side,
  secretFile: string,
  tokens: { readonly service: string; readonly client: string },
): Promise<{ samples: Record<Side, number[]>; cpuSeconds: Record<Side, number | null> }> {
  const order: readonly Side[] = first === 'on' ? ['on', 'off'] : ['off', 'on'];
  const processes = new Processes();
  const conns: Record<Side, Connection[]> = { on: [], off: [] };
  try {
    // Anonymous callers get nothing on the auth side: every request is a token holder's, checked against its grant.
    const gateways: Partial<Record<Side, GatewayProcess>> = {};
    for (const side of order) gateways[side] = await processes.gateway(side === 'on' ? ['--auth-secret-file', secretFile] : []);
    const on = gateways.on!;
    const off = gateways.off!;
    for (const side of order) {
      if (side === 'on') await processes.service('bench', on.url, 'bench-auth-on', [], { SLUICE_TOKEN: tokens.service });
      else await processes.service('bench', off.url, 'bench-auth-off');
    }
    for (let i = 0; i < o.connections; i++) {
      for (const side of order) conns[side].push(await establish(nodeTransport, side === 'on' ? { url: on.url, token: tokens.client } : { url: off.url }));
    }
    await warmUp(conns, o, order);
    const samples: Record<Side, number[]> = { on: [], off: [] };
    const pids = { on: on.child.process.pid, off: off.child.process.pid };
    const cpuSeconds: Record<Side, number | null> = { on: 0, off: 0 };
    for (let r = 0; r < o.runs; r++) {
      // Alternate which side goes first, so a drift in one direction does not favour either.
      for (const side of r % 2 === 0 ? order : [...order].reverse()) {
        const m = await cpuDuring({ gateway: pids[side] }, () => measureRequestResponse(conns[side], o.requests, o.concurrency));
        samples[side].push(m.result);
        const used = m.cpu.gateway;
        cpuSeconds[side] = used === undefined || cpuSeconds[side] === null ? null : cpuSeconds[side] + used;
      }
      ctx.log(`run ${r + 1}/${o.runs}: auth on ${Math.round(samples.on.at(-1)!)} req/s, auth off ${Math.round(samples.off.at(-1)!)} req/s`);
    }
    return { samples, cpuSeconds };
  } finally {
    for (const c of [...conns.on, ...conns.off]) c.close();
    await processes.stopAll();
  }
}

/** Full runs, the sides taking turns in `order`, until each has had `warmUpMs` of load; with 0, one short run each (5,000 requests). */
async function warmUp(conns: Readonly<Record<Side, readonly Connection[]>>, o: AuthCostOptions, order: readonly Side[]): Promise<void> {
  if (o.warmUpMs <= 0) {
    const warm = Math.min(o.requests, 5_000);
    for (const side of order) await measureRequestResponse(conns[side], warm, o.concurrency);
    return;
  }
  // Bounded in count too, for a machine so slow that a run takes longer than the whole warm-up.
  const until = performance.now() + 2 * o.warmUpMs;
  for (let i = 0; i < 20 && (i === 0 || performance.now() < until); i++) {
    for (const side of order) await measureRequestResponse(conns[side], o.requests, o.concurrency);
  }
}
