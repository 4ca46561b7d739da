/**
 * Auth cost: request-response (bench.echo) through a gateway that verifies
 * tokens and checks every call against the caller's grant, against the same
 * through a gateway with auth off, in the same run. Both gateways and both
 * bench services run as separate processes side by side; runs alternate
 * between the two sides so that drift on a noisy machine hits both alike.
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
import { Processes, median, withTimeout } from './processes.js';
import { cpuDuring } from './proc-cpu.js';
import type { BenchContext } from './scenario.js';

export interface AuthCostOptions {
  /** Requests per measured run, over all connections. */
  requests: number;
  /** Requests outstanding at once (closed loop), spread over the connections. */
  concurrency: number;
  /** Client connections to each gateway. */
  connections: number;
  /** Measured runs per side (alternating). */
  runs: number;
  /**
   * Before them, both sides take turns at full runs until each has had this
   * many ms of load (at least one warm-up run each).
   */
  warmUpMs: number;
}

export interface AuthCostResult {
  readonly options: AuthCostOptions;
  /** Requests per second, median of the runs: auth on, auth off. */
  readonly on: number;
  readonly off: number;
  /** on / off. */
  readonly ratio: number;
  readonly samples: { readonly on: readonly number[]; readonly off: readonly number[] };
  /**
   * Each gateway's CPU µs per request over its measured runs (from /proc; null
   * where unreadable; absent from results saved before it was measured): a
   * second view of what the check costs, beside req/s. Not free of noise
   * either: two gateways both with auth off have differed by up to 1.1 µs.
   */
  readonly gatewayCpuPerRequest?: { readonly on: number | null; readonly off: number | null };
}

export function authCostDefaults(quick: boolean): AuthCostOptions {
  // The full run warms up for seconds, not a fixed count: after 5,000 requests a side (a tenth of a second) runs were
  // still speeding up, 53,842 -> 116,412 req/s over five runs on Node 24, so the ratio of the medians said which side
  // the slow early runs fell on, not what checking a grant costs.
  return quick
    ? { requests: 20_000, concurrency: 64, connections: 4, runs: 2, warmUpMs: 0 }
    : { requests: 40_000, concurrency: 64, connections: 4, runs: 5, warmUpMs: 4_000 };
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

export async function runAuthCost(ctx: BenchContext, options: Partial<AuthCostOptions> = {}): Promise<AuthCostResult> {
  const o = { ...authCostDefaults(ctx.quick), ...options };
  const processes = new Processes();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-auth-'));
  const conns: { on: Connection[]; off: Connection[] } = { on: [], off: [] };
  try {
    const secret = new Uint8Array(randomBytes(48));
    const secretFile = join(dir, 'auth-secret');
    await writeFile(secretFile, secret, { mode: 0o600 });
    const serviceToken = await mintToken({ secret, subject: 'bench', grant: { service: 'bench', register: ['bench.*'] }, ttlMs: 3_600_000 });
    const clientToken = await mintToken({ secret, subject: 'bench-client', grant: { call: ['bench.*'] }, ttlMs: 3_600_000 });

    // Anonymous callers get nothing on the auth side: every request is a token holder's, checked against its grant.
    const on = await processes.gateway(['--auth-secret-file', secretFile]);
    const off = await processes.gateway();
    await processes.service('bench', on.url, 'bench-auth-on', [], { SLUICE_TOKEN: serviceToken });
    await processes.service('bench', off.url, 'bench-auth-off');
    for (let i = 0; i < o.connections; i++) {
      conns.on.push(await establish(nodeTransport, { url: on.url, token: clientToken }));
      conns.off.push(await establish(nodeTransport, { url: off.url }));
    }
    await warmUp(conns, o);
    const samples = { on: [] as number[], off: [] as number[] };
    const pids = { on: on.child.process.pid, off: off.child.process.pid };
    const cpuSeconds: { on: number | null; off: number | null } = { on: 0, off: 0 };
    for (let r = 0; r < o.runs; r++) {
      // Alternate which side goes first, so a drift in one direction does not favour either.
      const order = r % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      for (const side of order) {
        const m = await cpuDuring({ gateway: pids[side] }, () => measureRequestResponse(conns[side], o.requests, o.concurrency));
        samples[side].push(m.result);
        const used = m.cpu.gateway;
        cpuSeconds[side] = used === undefined || cpuSeconds[side] === null ? null : cpuSeconds[side] + used;
      }
      ctx.log(`run ${r + 1}/${o.runs}: auth on ${Math.round(samples.on.at(-1)!)} req/s, auth off ${Math.round(samples.off.at(-1)!)} req/s`);
    }
    const onRate = median(samples.on);
    const offRate = median(samples.off);
    const perRequest = (s: number | null) => (s === null ? null : (s * 1e6) / (o.runs * o.requests));
    const gatewayCpuPerRequest = { on: perRequest(cpuSeconds.on), off: perRequest(cpuSeconds.off) };
    ctx.log(`gateway CPU per request: auth on ${gatewayCpuPerRequest.on?.toFixed(2) ?? 'n/a'} µs, auth off ${gatewayCpuPerRequest.off?.toFixed(2) ?? 'n/a'} µs`);
    return { options: o, on: onRate, off: offRate, ratio: onRate / offRate, samples, gatewayCpuPerRequest };
  } finally {
    for (const c of [...conns.on, ...conns.off]) c.close();
    await processes.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Full runs, the sides taking turns, until each has had `warmUpMs` of load; with 0, one short run each (5,000 requests). */
async function warmUp(conns: { readonly on: readonly Connection[]; readonly off: readonly Connection[] }, o: AuthCostOptions): Promise<void> {
  if (o.warmUpMs <= 0) {
    const warm = Math.min(o.requests, 5_000);
    await measureRequestResponse(conns.on, warm, o.concurrency);
    await measureRequestResponse(conns.off, warm, o.concurrency);
    return;
  }
  // Bounded in count too, for a machine so slow that a run takes longer than the whole warm-up.
  const until = performance.now() + 2 * o.warmUpMs;
  for (let i = 0; i < 20 && (i === 0 || performance.now() < until); i++) {
    await measureRequestResponse(conns.on, o.requests, o.concurrency);
    await measureRequestResponse(conns.off, o.requests, o.concurrency);
  }
}
