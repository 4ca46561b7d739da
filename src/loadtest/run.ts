/**
 * One load test run: connect the producers, start sampling gateway memory,
 * drive the chosen workload with a live progress line, then build the
 * report. Everything it opens it closes, also on failure.
 */
import { connect } from '../transport/client-transport.js';
import type { Client } from '../client/index.js';
import { runChannelLoad } from './channels.js';
import { systemClock, type Clock } from './clock.js';
import { MemorySampler, scrapeMemory, summarizeMemory } from './metrics-scraper.js';
import type { LoadtestOptions } from './options.js';
import { ProgressLine, type ProgressOptions } from './progress.js';
import type { GatewayMemory, LoadtestReport } from './report.js';
import { runRequestReply } from './request-reply.js';
import { RunStats } from './stats.js';

export interface RunIO {
  clock?: Clock;
  /** Receives the progress line (`write`) and/or its numbers (`onSnapshot`); nothing when omitted. */
  progress?: Omit<ProgressOptions, 'clock' | 'snapshot'>;
  /** Ms between gateway memory readings. Default 1000. */
  memoryIntervalMs?: number;
  /** Aborting stops sending; answers still get `drainS`. */
  signal?: AbortSignal;
  /** Bearer token every producer connection presents. Kept out of the options so that it never shows in the report. Default none. */
  token?: string;
  /** PEM to trust for a wss:// or tls:// gateway and an https admin URL (`--ca`). Default the system's CAs. */
  ca?: Buffer;
}

/** Connections opened at once while setting up producers (so 10,000 of them do not all handshake together). */
const CONNECT_BATCH = 100;

export async function runLoadtest(options: LoadtestOptions, io: RunIO = {}): Promise<LoadtestReport> {
  const clock = io.clock ?? systemClock;
  const clients: Client[] = [];
  let sampler: MemorySampler | undefined;
  let progress: ProgressLine | undefined;
  try {
    for (let i = 0; i < options.producers; i += CONNECT_BATCH) {
      const batch = Math.min(CONNECT_BATCH, options.producers - i);
      clients.push(...(await Promise.all(Array.from({ length: batch }, () => connect({ url: options.url, limits: { maxOutboundStreams: 1 << 20 }, ...(io.token ? { token: io.token } : {}), ...(io.ca ? { tls: { ca: io.ca } } : {}) })))));
    }
    let memoryUnavailable: string | undefined = options.adminUrl ? undefined : 'no --admin-url';
    if (options.adminUrl) {
      try {
        await scrapeMemory(options.adminUrl, undefined, io.ca);
        sampler = new MemorySampler({ adminUrl: options.adminUrl, clock, intervalMs: io.memoryIntervalMs ?? 1_000, ...(io.ca ? { ca: io.ca } : {}) });
      } catch (err) {
        memoryUnavailable = `${options.adminUrl}/metrics: ${(err as Error).message}`;
      }
    }

    const startedAt = new Date().toISOString();
    const start = clock.now();
    const stats = new RunStats(start);
    sampler?.start();
    if (io.progress) {
      progress = new ProgressLine({ ...io.progress, clock, snapshot: (now) => stats.tick(now) });
      progress.start();
    }
    const common = {
      count: options.count,
      durationMs: options.durationS * 1000,
      drainMs: options.drainS * 1000,
      clock,
      stats,
      ...(io.signal ? { signal: io.signal } : {}),
    };
    let outcome: { end: LoadtestReport['endedBy']; sendingMs: number; delivery: LoadtestReport['delivery'] };
    if (options.mode === 'channel') {
      const r = await runChannelLoad({
        ...common,
        clients,
        route: options.route,
        consumers: options.consumers,
        open: { delayMs: options.consumerDelayMs },
        size: options.size,
        rate: options.rate,
      });
      outcome = { end: r.end, sendingMs: r.sendingMs, delivery: r.delivery };
    } else {
      const pad = padding(options.size);
      const r = await runRequestReply({
        ...common,
        call: (i) => clients[i % clients.length]!.requestResponse(options.route, { seq: i, pad }),
        ...(options.rate !== null ? { rate: options.rate } : { concurrency: options.concurrency }),
        maxInFlight: options.maxInFlight,
      });
      outcome = { end: r.end, sendingMs: r.sendingMs, delivery: null };
    }
    const totalMs = clock.now() - start;
    await progress?.stop();
    progress = undefined;
    const samples = sampler ? await sampler.stop() : [];
    const summary = summarizeMemory(samples);
    const gatewayMemory: GatewayMemory =
      sampler && summary
        ? { available: true, summary, samples, failedReadings: sampler.failures }
        : { available: false, reason: memoryUnavailable ?? `every reading failed (${sampler?.lastError ?? 'unknown'})` };
    sampler = undefined;
    const sendingS = outcome.sendingMs / 1000;
    const { json: _json, allowRemote: _allowRemote, ...shown } = options;
    return {
      options: shown,
      startedAt,
      endedBy: outcome.end,
      sendingS,
      totalS: totalMs / 1000,
      sent: stats.sent,
      completed: stats.completed,
      throughput: sendingS > 0 ? stats.completedWhileSending / sendingS : 0,
      latencyMs: stats.latency.summary(),
      errors: stats.errors.toJSON(),
      errorTotal: stats.errors.total,
      delivery: outcome.delivery,
      gatewayMemory,
    };
  } finally {
    await progress?.stop();
    await sampler?.stop();
    for (const c of clients) c.close();
  }
}

/** Padding that makes `{"seq":N,"pad":"…"}` about `size` bytes. */
export function padding(size: number): string {
  return 'x'.repeat(Math.max(0, size - '{"seq":0,"pad":""}'.length - 6));
}
