import { describe, expect, it } from 'vitest';
import { across, acrossMarkdown } from '../../src/across-runs.js';
import { benchCharts } from '../../src/charts.js';
import { figures } from '../../src/figures.js';
import { benchMarkdown } from '../../src/markdown.js';
import type { NatsCompareResult } from '../../src/nats-compare.js';
import type { BenchResults } from '../../src/results.js';
import { checkTargets } from '../../src/targets.js';

const rr = (throughput: number) => ({ throughput, completed: throughput * 8, p50: 1, p99: 3, errors: {} });

function nats(o: { sluice: number; nats: number; broker: number; stream: [number, number]; core: number }): NatsCompareResult {
  return {
    nats: { available: true, version: 'nats-server: v2.9.10' },
    cpuPerRequest: { sluice: { broker: o.broker, service: 7 }, nats: { broker: 6, service: 5 } },
    requestReply: { concurrency: 100, size: 100, durationS: 8, runs: 2, sluice: rr(o.sluice), nats: rr(o.nats) },
    streaming: {
      streams: 4,
      items: 100_000,
      size: 100,
      runs: 2,
      sluice: [
        { prefetch: 256, rate: o.stream[0] },
        { prefetch: 1024, rate: o.stream[1] },
      ],
      nats: { rate: o.core, lost: 0 },
    },
    sweep: { durationS: 4, sluice: [], nats: null },
  };
}

/** One Node version's pass: hop cost at 64 / 256 / 1024, and the NATS scenario. */
function pass(node: string, hop: [number, number, number], n: Parameters<typeof nats>[0], startedAt: string): BenchResults {
  const point = (prefetch: number, ratio: number) => ({ prefetch, gateway: ratio * 100_000, direct: 100_000, ratio, samples: { gateway: [ratio * 100_000], direct: [100_000] } });
  return {
    startedAt,
    quick: false,
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 8, os: 'Linux test x64', node, loadAtStart: 1, build: 'the TypeScript sources through tsx' },
    loadAtEnd: 1,
    totalSeconds: 700,
    hopCost: { ok: true, seconds: 60, result: { items: 100_000, streams: 4, size: 100, runs: 6, points: [point(64, hop[0]), point(256, hop[1]), point(1024, hop[2])] } },
    nats: { ok: true, seconds: 90, result: nats(n) },
  };
}

function run(startedAt: string, n20: [number, number, number], n24: [number, number, number], cpu20 = 8): BenchResults {
  const base = { sluice: 50_000, nats: 20_000, broker: cpu20, stream: [90_000, 100_000] as [number, number], core: 100_000 };
  return { ...pass('v20.20.2', n20, base, startedAt), otherNodes: [pass('v24.22.3', n24, { ...base, broker: 4, sluice: 100_000, nats: 40_000 }, startedAt)] };
}

describe('figures with targets, one run and across runs', () => {
  it("takes each figure of one pass with its target, and none of a scenario it did not measure", () => {
    const f = figures(run('2026-12-05T00:00:00.000Z', [1.2, 0.85, 0.95], [1, 1, 1]));
    expect(f.map((x) => [x.name, x.value, `${x.target.op} ${x.target.bound}`])).toEqual([
      ['hop cost at prefetch 64', 1.2, '>= 0.9'],
      ['hop cost at prefetch 256', 0.85, '>= 0.9'],
      ['hop cost at prefetch 1024', 0.95, '>= 0.9'],
      ['request-response / NATS request-reply', 2.5, '>= 2'],
      ['gateway CPU per request-response', 8, '<= 9'],
      ['streaming through the gateway / core NATS at prefetch 256', 0.9, '>= 0.8'],
      ['streaming through the gateway / core NATS at prefetch 1024', 1, '>= 0.8'],
    ]);
    expect(figures({ ...run('2026-12-05T00:00:00.000Z', [1, 1, 1], [1, 1, 1]), hopCost: { ok: false, error: 'x', seconds: 1 } }).some((x) => x.name.startsWith('hop cost'))).toBe(false);
  });

  it('lists every run in start order per Node and judges the median, the mean of the middle two for an even count', () => {
    const runs = [
      run('2026-12-05T00:04:00.000Z', [1.19, 0.83, 0.91], [1.38, 0.97, 0.98]),
      run('2026-12-05T02:00:00.000Z', [1.3, 0.95, 1.0], [1.2, 0.86, 1.1], 9.5),
      run('2026-12-05T02:15:00.000Z', [1.4, 0.91, 0.88], [1.25, 0.92, 1.0]),
    ];
    const a = across(runs);
    expect(a.nodes).toEqual(['20', '24']);
    const hop256 = a.rows.find((r) => r.name === 'hop cost at prefetch 256')!;
    expect(hop256.values).toEqual([
      [0.83, 0.95, 0.91],
      [0.97, 0.86, 0.92],
    ]);
    expect(hop256.medians).toEqual([0.91, 0.92]);
    expect(a.rows.find((r) => r.name === 'gateway CPU per request-response')!.medians).toEqual([8, 4]);
    expect(a.allMet).toBe(true);
    const md = acrossMarkdown(a).join('\n');
    expect(md).toContain('## Across 3 runs');
    expect(md).toContain('(started 2026-12-05 00:04, 2026-12-05 02:00, 2026-12-05 02:15 UTC)');
    // A run's own miss in bold; the median judged.
    expect(md).toContain('| hop cost at prefetch 256 | >= 0.9 | **0.83**, 0.95, 0.91 | 0.91 | yes | 0.97, **0.86**, 0.92 | 0.92 | yes |');
    expect(md).toContain('| gateway CPU per request-response | <= 9 µs | 8.0, **9.5**, 8.0 | 8.0 | yes | 4.0, 4.0, 4.0 | 4.0 | yes |');
    expect(md).toContain('Every median meets its target.');

    const even = across([...runs, run('2026-12-05T02:30:00.000Z', [1.1, 0.7, 0.95], [1.2, 0.8, 1.0])]);
    const h = even.rows.find((r) => r.name === 'hop cost at prefetch 256')!;
    expect(h.medians[0]).toBeCloseTo((0.83 + 0.91) / 2, 10);
    expect(h.medians[1]).toBeCloseTo((0.86 + 0.92) / 2, 10);
    expect(even.allMet).toBe(false);
    expect(acrossMarkdown(even).join('\n')).toContain('| 0.87 | **no** |');
    expect(acrossMarkdown(even).join('\n')).toContain('Not every median meets its target.');
  });

  it('leaves a run out of a median where it did not measure the figure, and says so with a dash', () => {
    const missing = { ...run('2026-12-05T02:00:00.000Z', [1, 1, 1], [1, 1, 1]), nats: { ok: false as const, error: 'nats-server not found', seconds: 1 } };
    const a = across([run('2026-12-05T00:04:00.000Z', [1, 1, 1], [1, 1, 1], 7), missing, run('2026-12-05T02:15:00.000Z', [1, 1, 1], [1, 1, 1], 8)]);
    const cpu = a.rows.find((r) => r.name === 'gateway CPU per request-response')!;
    expect(cpu.values[0]).toEqual([7, null, 8]);
    expect(cpu.medians[0]).toBe(7.5);
    expect(acrossMarkdown(a).join('\n')).toContain('| gateway CPU per request-response | <= 9 µs | 7.0, -, 8.0 | 7.5 | yes |');
  });

  it('puts the table in BENCHMARKS.md after the targets when the run carries it', () => {
    const runs = [run('2026-12-05T00:04:00.000Z', [1, 0.95, 1], [1, 1, 1]), run('2026-12-05T02:00:00.000Z', [1, 0.93, 1], [1, 1, 1])];
    const r: BenchResults = { ...runs[0]!, across: across(runs) };
    const md = benchMarkdown(r, benchCharts(r));
    expect(md.indexOf('## Across 2 runs')).toBeGreaterThan(md.indexOf('## Targets'));
    expect(md.indexOf('## Across 2 runs')).toBeLessThan(md.indexOf('## 1. Hop cost'));
    expect(benchMarkdown(runs[0]!, benchCharts(runs[0]!))).not.toContain('## Across');
  });

  it("checks the hot path's targets in one run: hop cost at every prefetch, the gateway's CPU per request-response, streaming against core NATS", () => {
    const checks = checkTargets(run('2026-12-05T00:04:00.000Z', [1.2, 0.95, 0.89], [1, 1, 1], 9.5));
    const hop = checks.find((c) => c.scenario === 'Hop cost')!;
    expect(hop).toMatchObject({ target: 'gateway / direct >= 0.9 at every prefetch', met: false, measured: '0.95 at prefetch 256 (1.20 at prefetch 64, 0.89 at prefetch 1024)' });
    const byTarget = (s: string) => checks.find((c) => c.target.startsWith(s))!;
    expect(byTarget('Sluice request-response')).toMatchObject({ target: 'Sluice request-response >= 2 x NATS request-reply', met: true });
    expect(byTarget('gateway CPU')).toMatchObject({ met: false, measured: '9.5 µs (nats-server 6.0 µs), from /proc over the closed-loop runs' });
    expect(byTarget('Sluice streaming')).toMatchObject({ met: true, measured: '0.90 at prefetch 256 (90,000 vs 100,000 items/s); 1.00 at prefetch 1024 (100,000 vs 100,000 items/s)' });
  });
});
