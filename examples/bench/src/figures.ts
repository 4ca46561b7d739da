/**
 * The hot path's figures as numbers, each with its target: what the Targets
 * table checks in one run, and what `--across` takes the median of over
 * several. One run's figure moves by about as much as its margin on a shared
 * 2-core machine (hop cost at prefetch 256: a standard deviation of 0.07
 * between runs), so a judgement is the median over runs, each run listed.
 */
import type { BenchResults } from './results.js';

/** A figure's target: at least or at most `bound`. */
export interface FigureTarget {
  readonly op: '>=' | '<=';
  readonly bound: number;
}

export interface Figure {
  /** Stable within a scenario's shape, e.g. `hop cost at prefetch 256`: figures of several runs are matched by it. */
  readonly name: string;
  readonly unit: 'ratio' | 'µs';
  readonly target: FigureTarget;
  readonly value: number;
}

/** The targets, one place: targets.ts checks one run against them, across-runs.ts the median of several. */
export const TARGETS = {
  hopCost: { op: '>=', bound: 0.9 },
  viaGatewayVsRelay: { op: '>=', bound: 0.6 },
  requestReplyVsNats: { op: '>=', bound: 2 },
  gatewayCpuPerRequest: { op: '<=', bound: 9 },
  streamingVsNats: { op: '>=', bound: 0.8 },
  authCost: { op: '>=', bound: 0.95 },
  durableVsNats: { op: '>=', bound: 0.7 },
  floodDelivered: { op: '>=', bound: 0.9 },
} as const satisfies Record<string, FigureTarget>;

export function meets(value: number, t: FigureTarget): boolean {
  return t.op === '>=' ? value >= t.bound : value <= t.bound;
}

/** `>= 0.9`, `<= 9 µs`. */
export function targetText(t: FigureTarget, unit: Figure['unit']): string {
  return `${t.op} ${t.bound}${unit === 'µs' ? ' µs' : ''}`;
}

/** The figures one run (one Node version's pass) measured; a scenario not run, failed or without its baseline gives none. */
export function figures(r: BenchResults): Figure[] {
  const out: Figure[] = [];
  const ratio = (name: string, target: FigureTarget, value: number) => out.push({ name, unit: 'ratio', target, value });
  if (r.hopCost?.ok) for (const p of r.hopCost.result.points) ratio(`hop cost at prefetch ${p.prefetch}`, TARGETS.hopCost, p.ratio);
  if (r.transport?.ok) {
    const rows = r.transport.result.rows;
    const relay = rows.find((x) => x.kind === 'raw' && x.hop);
    if (relay) for (const x of rows.filter((y) => y.kind === 'sluice' && y.hop)) ratio(`via the gateway / raw ws relay at prefetch ${x.prefetch}`, TARGETS.viaGatewayVsRelay, x.rate / relay.rate);
  }
  if (r.nats?.ok) {
    const n = r.nats.result;
    if (n.requestReply.nats) ratio('request-response / NATS request-reply', TARGETS.requestReplyVsNats, n.requestReply.sluice.throughput / n.requestReply.nats.throughput);
    const cpu = n.cpuPerRequest.sluice.broker;
    if (cpu !== null) out.push({ name: 'gateway CPU per request-response', unit: 'µs', target: TARGETS.gatewayCpuPerRequest, value: cpu });
    const core = n.streaming.nats;
    if (core) for (const s of n.streaming.sluice) ratio(`streaming through the gateway / core NATS at prefetch ${s.prefetch}`, TARGETS.streamingVsNats, s.rate / core.rate);
  }
  if (r.auth?.ok) ratio('auth on / auth off', TARGETS.authCost, r.auth.result.ratio);
  if (r.durable?.ok) ratio('durable route on JetStream / nats.js on JetStream', TARGETS.durableVsNats, r.durable.result.ratios.jetstreamVsNats);
  if (r.flood?.ok) ratio('flood delivered / capacity measured directly', TARGETS.floodDelivered, r.flood.result.delivered / r.flood.result.directCapacity);
  return out;
}
