import { describe, expect, it } from 'vitest';
import { benchCharts } from '../../src/charts.js';
import { benchMarkdown } from '../../src/markdown.js';
import { geometricMean } from '../../src/processes.js';
import type { BenchResults } from '../../src/results.js';
import { lineChart, niceTicks, tickLabel } from '../../src/svg-chart.js';
import { checkTargets, ratioLines } from '../../src/targets.js';

const machine = { cpu: 'Test CPU', cores: 2, memoryGiB: 8, os: 'Linux test x64', node: 'v20.0.0', loadAtStart: 1.5, build: 'the compiled JavaScript (dist/)' };

function results(overrides: Partial<BenchResults> = {}): BenchResults {
  return {
    startedAt: '2026-01-01T00:00:00.000Z',
    quick: false,
    machine,
    loadAtEnd: 2,
    totalSeconds: 480,
    hopCost: {
      ok: true,
      seconds: 60,
      result: {
        items: 100_000,
        streams: 4,
        size: 100,
        runs: 3,
        points: [
          {
            prefetch: 256,
            gateway: 140_000,
            direct: 200_000,
            ratio: 0.7,
            samples: { gateway: [140_000, 150_000, 100_000], direct: [200_000, 160_000, 200_000] },
            cpuPerItem: { gateway: { consumer: 1.5, gateway: 2, service: 1.25 }, direct: { consumer: 1.5, service: 1.25 } },
          },
          { prefetch: 1024, gateway: 180_000, direct: 200_000, ratio: 0.9, samples: { gateway: [180_000], direct: [200_000] } },
        ],
      },
    },
    scale: { ok: false, error: 'file descriptor limit 256 is too low', seconds: 1 },
    ...overrides,
  };
}

describe('svg line chart', () => {
  it('picks round ticks', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 130_000)).toEqual([0, 50_000, 100_000, 150_000]);
    expect(niceTicks(64, 1024)).toEqual([200, 400, 600, 800, 1000, 1200]);
    expect(niceTicks(5, 5)).toEqual([5]);
    expect([tickLabel(1500), tickLabel(20_000), tickLabel(1_200_000), tickLabel(0.25)]).toEqual(['1500', '20k', '1.2M', '0.25']);
  });

  it('draws each series, escapes text and is deterministic', () => {
    const o = { title: 'p99 <vs> load & more', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [[0, 1], [1, 2]] as Array<[number, number]> }, { name: 'b', points: [[0, 3]] as Array<[number, number]>, dashed: true }], lines: [{ y: 2.5, label: 'limit' }] };
    const svg = lineChart(o);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('p99 &lt;vs&gt; load &amp; more');
    expect(svg.match(/<polyline/g)).toHaveLength(1); // a one-point series is a dot
    expect(svg.match(/<circle/g)).toHaveLength(3);
    expect(svg).toContain('limit');
    expect(lineChart(o)).toBe(svg);
  });

  it('puts a log axis on decades', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'ms', logY: true, series: [{ name: 's', points: [[1, 3], [2, 2500]] }] });
    for (const label of ['>1<', '>10<', '>100<', '>1000<', '>10k<']) expect(svg).toContain(label);
    expect(svg).toContain('ms (log scale)');
  });
});

describe('targets and BENCHMARKS.md', () => {
  it('checks each target against the numbers, and says what was not measured', () => {
    const checks = checkTargets(results());
    const hop = checks.find((c) => c.scenario === 'Hop cost')!;
    expect(hop).toMatchObject({ met: false, measured: '0.70 at prefetch 256 (0.90 at prefetch 1024)' });
    expect(hop.note).toContain('The best ratio, 0.90, is at prefetch 1024.');
    expect(checks.find((c) => c.scenario === 'NATS')).toMatchObject({ met: null, measured: 'not measured', note: 'not run' });
    // Scale has a target now: a failed run is reported as not measured, with its error.
    expect(checks.find((c) => c.scenario === 'Scale')).toMatchObject({ met: null, measured: 'not measured', note: 'file descriptor limit 256 is too low' });
    expect(ratioLines(results())[0]).toContain('0.70  at prefetch 256 (140,000 vs 200,000 items/s)');
  });

  it('renders the machine, the targets table, each scenario or why it is missing, and chart links', () => {
    const r = results();
    const md = benchMarkdown(r, benchCharts(r));
    expect(md).toContain('- 2 x Test CPU, 8 GiB RAM, Linux test x64, Node v20.0.0');
    expect(md).toContain('- Every Sluice process ran the compiled JavaScript (dist/).');
    expect(md).toContain('| Hop cost | gateway / direct >= 0.9 at every prefetch | 0.70 at prefetch 256 (0.90 at prefetch 1024) | **no** |');
    // Each side's CPU per item, its processes summed; n/a for a point saved before CPU was measured.
    // Each round's own ratio (gateway run over the same round's direct run), lowest to highest.
    expect(md).toContain('| 256 | 140,000 items/s | 200,000 items/s | 0.70 | 0.50-0.94 | 4.75 (consumer 1.50, gateway 2.00, service 1.25) | 2.75 (consumer 1.50, service 1.25) |');
    expect(md).toContain('| 1024 | 180,000 items/s | 200,000 items/s | 0.90 | 0.90 | n/a | n/a |');
    expect(md).toContain('![Hop cost: bench.source items/s by consumer prefetch](docs/bench/hop-cost.svg)');
    expect(md).toContain('## 2. Transport limit: Sluice vs raw WebSocket\n\nNot run in this invocation.');
    expect(md).toContain('**Failed**: file descriptor limit 256 is too low');
    expect(md).not.toMatch(/\n{3,}/);
    // The chain has four targets; not run, it says so once.
    expect(md.split('- **Synchronous chain**: not run').length - 1).toBe(1);
  });

  it("reports the auth scenario's gateway CPU per request beside its rates, and in the note of a missed target", () => {
    const r = results({
      auth: {
        ok: true,
        seconds: 20,
        result: {
          options: { requests: 40_000, concurrency: 64, connections: 4, runs: 3, warmUpMs: 4_000 },
          on: 90_000,
          off: 100_000,
          ratio: 0.9,
          samples: { on: [90_000, 95_000, 80_000], off: [100_000, 99_000, 101_000] },
          gatewayCpuPerRequest: { on: 4.25, off: 4.2 },
        },
      },
    });
    const md = benchMarkdown(r, benchCharts(r));
    expect(md).toContain('after about 4 s of warm-up runs per side');
    expect(md).toContain('Gateway CPU per request over the measured runs (from /proc): auth on 4.25 µs, auth off 4.20 µs (on / off 1.01):');
    const auth = checkTargets(r).find((c) => c.scenario === 'Auth cost')!;
    expect(auth.met).toBe(false);
    expect(auth.note).toContain('on 4.25 µs, off 4.20 µs');
  });

  it('reports each pair of the auth scenario with the side set up first, and says nothing of pairs for results saved before them', () => {
    const auth = (pairs?: { first: 'on' | 'off'; ratio: number }[]) =>
      results({
        auth: {
          ok: true,
          seconds: 30,
          result: {
            options: { requests: 100_000, concurrency: 64, connections: 4, runs: 2, warmUpMs: 4_000, ...(pairs ? { pairs: pairs.length } : {}) },
            on: 90_000,
            off: 100_000,
            ratio: pairs ? geometricMean(pairs.map((x) => x.ratio)) : 0.9,
            samples: { on: [88_000, 92_000, 85_000, 95_000], off: [100_000, 99_000, 101_000, 100_000] },
            gatewayCpuPerRequest: { on: 4.25, off: 4.2 },
            ...(pairs ? { pairs } : {}),
          },
        },
      });
    // A slot worth 10% multiplies one pair's ratio and divides the other's: the geometric mean is the cost without it.
    const withPairs = auth([
      { first: 'on', ratio: 0.92 * 1.1 },
      { first: 'off', ratio: 0.92 / 1.1 },
    ]);
    const a = withPairs.auth!;
    expect(a.ok && a.result.ratio).toBeCloseTo(0.92, 10);
    const md = benchMarkdown(withPairs, benchCharts(withPairs));
    expect(md).toContain('2 pairs of gateways, each set up afresh, the auth side set up first in one pair and second in the next, 2 runs per side in each pair');
    expect(md).toContain('2 runs per side in each pair, alternating which side goes first (with an odd number,');
    expect(md).toContain('after about 4 s of warm-up runs per side in each pair.');
    expect(md).toContain('| **on / off** | **0.92** (geometric mean of the pairs) | |');
    expect(md).toContain('Each pair on its own (ratio of its medians): 1.01 (auth side set up first), 0.84 (auth-off side first).');
    const check = checkTargets(withPairs).find((c) => c.scenario === 'Auth cost')!;
    expect(check.met).toBe(false);
    expect(check.note).toContain('Each pair: 1.01 (auth side set up first), 0.84 (auth-off side first).');
    const before = auth();
    const old = benchMarkdown(before, benchCharts(before));
    expect(old).toContain('2 runs per side alternating, after about 4 s of warm-up runs per side.');
    expect(old).toContain('| **on / off** | **0.90** | |');
    expect(old).not.toContain('Each pair');
    expect(checkTargets(before).find((c) => c.scenario === 'Auth cost')!.note).not.toContain('Each pair');
  });

  it('places the hand-kept profile section as it is, just before Reproducing, and nothing when there is none', () => {
    const r = results();
    const section = '## Where the time goes\n\nwriteBuffer 26%';
    const md = benchMarkdown(r, benchCharts(r), 'docs/bench', `${section}\n`);
    expect(md).toContain(`${section}\n\n## Reproducing`);
    expect(benchMarkdown(r, benchCharts(r))).not.toContain('Where the time goes');
  });
});
