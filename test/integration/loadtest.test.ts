/**
 * The load tester against a real gateway (port 0) and bench service: short
 * runs with small counts. Counts and ratios are asserted, never an absolute
 * time.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadtestDefaults, type LoadtestOptions } from '../../src/loadtest/options.js';
import { runLoadtest } from '../../src/loadtest/run.js';
import { SLUICE_BIN } from '../../examples/checkout/src/supervisor.js';
import { useHarness } from '../helpers/harness.js';

const h = useHarness();

async function setup(): Promise<Pick<LoadtestOptions, 'url' | 'adminUrl'>> {
  const gw = await h.gateway();
  await h.service({ url: gw.url, service: 'bench' });
  return { url: gw.url, adminUrl: gw.adminUrl! };
}

describe('sluice loadtest', () => {
  it('channel mode: producers flooding slow consumers deliver no more than the consumers take, and every accepted item is acked exactly once', async () => {
    const target = await setup();
    const consumers = 4;
    const delayMs = 5;
    const capacity = (consumers * 1000) / delayMs; // items/s the consumers can take at most
    const report = await runLoadtest(
      { ...loadtestDefaults, ...target, producers: 2, consumers, consumerDelayMs: delayMs, rate: capacity * 4, durationS: 1.5, drainS: 5 },
      { memoryIntervalMs: 250 },
    );
    const d = report.delivery!;
    expect(report.endedBy).toBe('duration');
    expect(report.errors).toEqual({});
    expect(d.sent).toBeGreaterThan(consumers);
    expect(d).toMatchObject({ acked: d.sent, duplicates: 0, missing: 0, unacked: 0, failedChannels: 0 });
    expect(report.completed).toBe(d.sent);
    expect(report.latencyMs.count).toBe(d.sent);
    // Offered at 4x what the consumers take: most of it was held back by demand, not queued.
    expect(d.offered!).toBeGreaterThan(d.sent);
    // Each consumer takes one item per delayMs at most, whatever the producers offer.
    expect(report.throughput * report.sendingS).toBeLessThanOrEqual(capacity * report.sendingS + consumers);
    // Latency is at least the consumer's own time per item.
    expect(report.latencyMs.p50).toBeGreaterThanOrEqual(delayMs);
    expect(report.gatewayMemory.available).toBe(true);
    if (report.gatewayMemory.available) {
      expect(report.gatewayMemory.summary.samples).toBeGreaterThanOrEqual(2);
      expect(report.gatewayMemory.summary.rssStart).toBeGreaterThan(0);
    }
  });

  it('channel mode stops at the count', async () => {
    const target = await setup();
    const report = await runLoadtest({ ...loadtestDefaults, ...target, producers: 2, consumers: 3, count: 500, durationS: 60 });
    expect(report.endedBy).toBe('count');
    expect(report.delivery).toMatchObject({ offered: null, sent: 500, acked: 500, duplicates: 0, missing: 0, unacked: 0 });
  });

  it('request-response open loop: sends the count at the rate, all answered', async () => {
    const target = await setup();
    const report = await runLoadtest({ ...loadtestDefaults, ...target, mode: 'rr', route: 'bench.echo', producers: 2, rate: 400, count: 300, durationS: 30 });
    expect(report).toMatchObject({ endedBy: 'count', sent: 300, completed: 300, errors: {}, errorTotal: 0, delivery: null });
    expect(report.latencyMs.count).toBe(300);
    expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p50);
  });

  it('request-response closed loop against a route nobody serves: every request counted under NO_ROUTE', async () => {
    const target = await setup();
    const report = await runLoadtest({ ...loadtestDefaults, ...target, mode: 'rr', route: 'nobody.home', producers: 1, concurrency: 5, count: 50, adminUrl: null });
    expect(report).toMatchObject({ endedBy: 'count', sent: 50, completed: 0, errors: { NO_ROUTE: 50 }, errorTotal: 50 });
    expect(report.gatewayMemory).toEqual({ available: false, reason: 'no --admin-url' });
  });

  it('the CLI refuses a remote target without --allow-remote', () => {
    const r = spawnSync(process.execPath, [SLUICE_BIN, 'loadtest', '--url', 'ws://192.0.2.1:7878'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--url ws://192.0.2.1:7878 is not a loopback address');
  });
});
