/**
 * The final report of a load test run: one typed object (what `--json`
 * prints, and what the benchmarks read) and its text rendering.
 */
import type { DeliveryCounts } from './channels.js';
import { errorList, int, mib, ms, signedMib } from './format.js';
import type { LatencySummary } from './histogram.js';
import type { MemorySample, MemorySummary } from './metrics-scraper.js';
import type { LoadtestOptions } from './options.js';
import type { LoopEnd } from './rate.js';

export type GatewayMemory =
  | { readonly available: true; readonly summary: MemorySummary; readonly samples: readonly MemorySample[]; readonly failedReadings: number }
  | { readonly available: false; readonly reason: string };

export interface LoadtestReport {
  readonly options: Omit<LoadtestOptions, 'json' | 'allowRemote'>;
  /** ISO time the run started. */
  readonly startedAt: string;
  /** Why sending stopped: the count was reached, the duration passed, or the run was interrupted. */
  readonly endedBy: LoopEnd;
  /** Seconds spent sending. */
  readonly sendingS: number;
  /** Seconds from start to the last answer awaited (sending + drain). */
  readonly totalS: number;
  /** Requests or items sent. */
  readonly sent: number;
  /** Successful answers (responses, acks). */
  readonly completed: number;
  /** Successful answers per second while sending (steady state, without the drain tail). */
  readonly throughput: number;
  /** Latency of successful answers, ms: from the scheduled send (rr open loop) or the actual send (closed loop, channel). */
  readonly latencyMs: LatencySummary;
  /** Failures by code (Sluice codes, plus the load tester's own: UNFINISHED, MAX_IN_FLIGHT, UNACKED, MISSING_ACK). */
  readonly errors: Readonly<Record<string, number>>;
  readonly errorTotal: number;
  /** Channel mode: exactly-once accounting. */
  readonly delivery: DeliveryCounts | null;
  readonly gatewayMemory: GatewayMemory;
}

/** The report as text, one fact per line. */
export function formatReport(r: LoadtestReport): string {
  const o = r.options;
  const shape =
    o.mode === 'channel'
      ? `${int(o.producers)} producer connections, ${int(o.consumers)} consumers (channels) at ${int(o.consumerDelayMs)} ms/item, ${o.rate === null ? 'pushing as fast as granted' : `offering ${int(o.rate)} items/s`}`
      : `${int(o.producers)} connections, ${o.rate === null ? `closed loop, ${int(o.concurrency)} concurrent` : `open loop at ${int(o.rate)} requests/s`}`;
  const lines = [
    `sluice loadtest: ${o.mode === 'channel' ? 'request-channel' : 'request-response'} on ${o.route} at ${o.url}`,
    `  load        ${shape}, ${int(o.size)}-byte payloads`,
    `  ran         ${r.sendingS.toFixed(1)} s sending (ended by ${r.endedBy}), ${r.totalS.toFixed(1)} s in all`,
    `  sent        ${int(r.sent)}`,
    `  completed   ${int(r.completed)}`,
    `  throughput  ${int(r.throughput)}/s while sending`,
    `  latency     p50 ${ms(r.latencyMs.p50)}  p90 ${ms(r.latencyMs.p90)}  p99 ${ms(r.latencyMs.p99)}  p99.9 ${ms(r.latencyMs.p999)}  max ${ms(r.latencyMs.max)}  (${int(r.latencyMs.count)} samples)`,
    `  errors      ${errorList(r.errors)}`,
  ];
  const d = r.delivery;
  if (d) {
    if (d.offered !== null) lines.push(`  offered     ${int(d.offered)} items; ${int(Math.max(0, d.offered - d.sent))} held back by backpressure`);
    const exactlyOnce = d.acked === d.sent && d.duplicates === 0 && d.missing === 0;
    lines.push(
      `  delivery    ${int(d.sent)} accepted, ${int(d.acked)} acked, ${int(d.duplicates)} duplicates, ${int(d.missing)} missing, ${int(d.unacked)} unacked` +
        ` -> ${exactlyOnce ? 'every accepted item acked exactly once' : 'NOT exactly once'}`,
    );
    if (d.failedChannels > 0) lines.push(`  channels    ${int(d.failedChannels)} of ${int(o.consumers)} failed or unfinished`);
  }
  const m = r.gatewayMemory;
  if (m.available) {
    const s = m.summary;
    lines.push(
      `  gateway     RSS ${mib(s.rssStart)} -> ${mib(s.rssEnd)} (${signedMib(s.rssGrowth)}, max ${mib(s.rssMax)}); heap used ${mib(s.heapUsedStart)} -> ${mib(s.heapUsedEnd)} (max ${mib(s.heapUsedMax)}); ${s.samples} readings` +
        (m.failedReadings ? `, ${m.failedReadings} failed` : ''),
    );
  } else {
    lines.push(`  gateway     memory not read: ${m.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
