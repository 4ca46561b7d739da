import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { ErrorCounts, LoadtestCodes, codeOf } from '../../src/loadtest/error-counts.js';
import { memoryFromText, metricFromText, summarizeMemory } from '../../src/loadtest/metrics-scraper.js';
import { loadtestDefaults } from '../../src/loadtest/options.js';
import { ProgressLine, formatProgress } from '../../src/loadtest/progress.js';
import { formatReport, type LoadtestReport } from '../../src/loadtest/report.js';
import { RunStats } from '../../src/loadtest/stats.js';
import { ManualClock } from '../helpers/manual-clock.js';

const { json: _j, allowRemote: _a, ...options } = loadtestDefaults;

function report(overrides: Partial<LoadtestReport> = {}): LoadtestReport {
  return {
    options: { ...options, consumers: 8, consumerDelayMs: 10, rate: 8000 },
    startedAt: '2026-01-01T00:00:00.000Z',
    endedBy: 'duration',
    sendingS: 4,
    totalS: 4.1,
    sent: 2544,
    completed: 2544,
    throughput: 634.2,
    latencyMs: { count: 2544, min: 10.1, mean: 11.9, p50: 11.6, p90: 14.8, p99: 23.2, p999: 89, max: 92.7 },
    errors: {},
    errorTotal: 0,
    delivery: { offered: 32001, sent: 2544, acked: 2544, duplicates: 0, missing: 0, unacked: 0, failedChannels: 0 },
    gatewayMemory: {
      available: true,
      summary: { samples: 5, rssStart: 100 * 2 ** 20, rssEnd: 103.5 * 2 ** 20, rssMax: 104 * 2 ** 20, rssGrowth: 3.5 * 2 ** 20, heapUsedStart: 11 * 2 ** 20, heapUsedEnd: 12 * 2 ** 20, heapUsedMax: 13 * 2 ** 20 },
      samples: [],
      failedReadings: 0,
    },
    ...overrides,
  };
}

describe('formatReport', () => {
  it('states throughput, percentiles, errors, delivery and gateway memory', () => {
    const text = formatReport(report());
    expect(text).toContain('request-channel on bench.sink at ws://127.0.0.1:7878');
    expect(text).toContain('4 producer connections, 8 consumers (channels) at 10 ms/item, offering 8,000 items/s, 100-byte payloads');
    expect(text).toContain('throughput  634/s while sending');
    expect(text).toContain('p50 11.6 ms  p90 14.8 ms  p99 23.2 ms  p99.9 89.0 ms  max 92.7 ms  (2,544 samples)');
    expect(text).toContain('errors      none');
    expect(text).toContain('offered     32,001 items; 29,457 held back by backpressure');
    expect(text).toContain('2,544 accepted, 2,544 acked, 0 duplicates, 0 missing, 0 unacked -> every accepted item acked exactly once');
    expect(text).toContain('RSS 100.0 MiB -> 103.5 MiB (+3.5 MiB, max 104.0 MiB)');
  });

  it('says so when delivery was not exactly once, and lists errors by code', () => {
    const text = formatReport(
      report({
        errors: { UNAVAILABLE: 1, UNACKED: 3 },
        delivery: { offered: null, sent: 10, acked: 7, duplicates: 0, missing: 0, unacked: 3, failedChannels: 1 },
      }),
    );
    expect(text).toContain('errors      UNAVAILABLE=1 UNACKED=3');
    expect(text).toContain('-> NOT exactly once');
    expect(text).toContain('channels    1 of 8 failed or unfinished');
    expect(text).not.toContain('offered');
  });

  it('renders request-response runs and missing gateway memory', () => {
    const text = formatReport(
      report({
        options: { ...options, mode: 'rr', route: 'bench.echo', rate: null, concurrency: 100 },
        delivery: null,
        gatewayMemory: { available: false, reason: 'no --admin-url' },
      }),
    );
    expect(text).toContain('request-response on bench.echo');
    expect(text).toContain('4 connections, closed loop, 100 concurrent');
    expect(text).toContain('gateway     memory not read: no --admin-url');
    expect(text).not.toContain('delivery');
  });

  it('round-trips through JSON', () => {
    const r = report();
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('progress', () => {
  it('formats one line with rate, percentiles, in flight and errors', () => {
    expect(formatProgress({ elapsedMs: 12_049, rate: 10_234.4, p50: 1.23, p99: 0.5, inFlight: 256, completed: 99_000, errors: { OVERLOADED: 3 } })).toBe(
      '  12.0s  rate 10,234/s  p50 1.2 ms  p99 0.500 ms  in flight 256  done 99,000  errors OVERLOADED=3',
    );
  });

  it('rewrites one line on a terminal and prints plain lines elsewhere', async () => {
    for (const tty of [true, false]) {
      const clock = new ManualClock(0);
      const stats = new RunStats(0);
      const out: string[] = [];
      const line = new ProgressLine({ write: (t) => out.push(t), tty, intervalMs: 1000, clock, snapshot: (now) => stats.tick(now) });
      line.start();
      stats.onSent();
      stats.onSuccess(2);
      await clock.advance(1000);
      await clock.advance(1000);
      await line.stop();
      expect(out).toHaveLength(tty ? 3 : 2);
      if (tty) {
        expect(out[0]!.startsWith('\r\u001b[2K')).toBe(true);
        expect(out[0]).toMatch(/ +1\.0s {2}rate 1\/s {2}p50 2\.0 ms/);
        expect(out[2]).toBe('\n');
      } else {
        expect(out[0]).toMatch(/^ +1\.0s {2}rate 1\/s .*\n$/);
        expect(out[1]).toMatch(/rate 0\/s {2}p50 0 ms/);
      }
    }
  });
});

describe('run stats', () => {
  it('counts in flight, completions while sending and failures', () => {
    const s = new RunStats(0);
    s.onSent();
    s.onSent();
    s.onSent();
    s.onSuccess(1);
    s.sending = false;
    s.onSuccess(1);
    s.onFailure('UNAVAILABLE');
    s.onRefused(LoadtestCodes.MAX_IN_FLIGHT);
    expect({ sent: s.sent, completed: s.completed, during: s.completedWhileSending, inFlight: s.inFlight }).toEqual({ sent: 3, completed: 2, during: 1, inFlight: 0 });
    expect(s.errors.toJSON()).toEqual({ MAX_IN_FLIGHT: 1, UNAVAILABLE: 1 });
  });
});

describe('errors by code', () => {
  it('orders by count, then code', () => {
    const e = new ErrorCounts();
    e.add('B');
    e.add('A', 2);
    e.add('C', 2);
    expect(Object.entries(e.toJSON())).toEqual([['A', 2], ['C', 2], ['B', 1]]);
    expect(e.total).toBe(5);
  });

  it('uses Sluice codes, then any string code, then UNKNOWN', () => {
    expect(codeOf(new SluiceError('OVERLOADED', 'x'))).toBe('OVERLOADED');
    expect(codeOf(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(codeOf(new Error('x'))).toBe('UNKNOWN');
    expect(codeOf('text')).toBe('UNKNOWN');
  });
});

describe('gateway memory from /metrics', () => {
  const text = [
    '# HELP sluice_process_resident_memory_bytes Resident memory size in bytes.',
    'sluice_process_resident_memory_bytes 95547392',
    'sluice_process_resident_memory_bytes_extra 1',
    'sluice_nodejs_heap_size_used_bytes 12622616',
    'sluice_connections{role="client"} 3',
  ].join('\n');

  it('reads exact metric names only', () => {
    expect(metricFromText(text, 'sluice_process_resident_memory_bytes')).toBe(95547392);
    expect(metricFromText(text, 'sluice_connections')).toBe(3);
    expect(metricFromText(text, 'sluice_process_resident')).toBeUndefined();
    expect(memoryFromText(text)).toEqual({ rss: 95547392, heapUsed: 12622616 });
    expect(memoryFromText('sluice_connections 1')).toBeUndefined();
  });

  it('summarizes a series: start, end, max and growth', () => {
    expect(summarizeMemory([])).toBeUndefined();
    expect(
      summarizeMemory([
        { t: 0, rss: 100, heapUsed: 10 },
        { t: 1000, rss: 130, heapUsed: 30 },
        { t: 2000, rss: 110, heapUsed: 20 },
      ]),
    ).toEqual({ samples: 3, rssStart: 100, rssEnd: 110, rssMax: 130, rssGrowth: 10, heapUsedStart: 10, heapUsedEnd: 20, heapUsedMax: 30 });
  });
});
