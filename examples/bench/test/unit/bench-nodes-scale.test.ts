import { describe, expect, it } from 'vitest';
import { benchMarkdown, targetsTable } from '../../src/markdown.js';
import { parseNodes, passArgs, resolveNode, sideBySide } from '../../src/node-versions.js';
import { pickRandom } from '../../src/peers/scale-clients.js';
import type { BenchResults } from '../../src/results.js';
import type { ScaleResult } from '../../src/scale.js';
import { checkTargets } from '../../src/targets.js';

const machine = (node: string) => ({ cpu: 'Test CPU', cores: 2, memoryGiB: 8, os: 'Linux test x64', node, loadAtStart: 1, build: 'the compiled JavaScript (dist/)' });
const KiB = 1024;
const GiB = 1024 ** 3;

function scale(over: { streams?: number; connections?: number; rss?: number; wrong?: number; sourcesAfterCancel?: number } = {}): ScaleResult {
  const streams = over.streams ?? 1_000_000;
  const connections = over.connections ?? 15_000;
  const wrong = over.wrong ?? 0;
  return {
    options: { connections, streams, connectionsPerClient: 1_000, services: 8, sample: 1_000, sampleRequest: 8, sampleRounds: 3 },
    baseline: { rss: 100 * 1024 * 1024, heapUsed: 20 * 1024 * 1024 },
    afterConnections: { rss: 300 * 1024 * 1024, heapUsed: 150 * 1024 * 1024 },
    afterStreams: { rss: over.rss ?? 2.5 * GiB, heapUsed: 2 * GiB },
    perConnection: { rss: 13 * KiB, heapUsed: 9 * KiB },
    perStream: { rss: 2.4 * KiB, heapUsed: 2 * KiB },
    connectSeconds: 30,
    openSeconds: 100,
    openCpuPerStreamUs: { gateway: 50, services: 120, loadGenerators: 15 },
    gatewayConnections: connections,
    gatewayStreams: streams,
    sampleResult: { streams: 1_000, exact: 1_000 - wrong, wrong, problems: wrong ? ['received 9 of 25'] : [] },
    sourcesBeforeCancel: streams,
    sourcesAfterCancel: over.sourcesAfterCancel ?? streams - 1_000,
    processes: [{ name: 'bench-0', rss: 300 * 1024 * 1024 }],
    series: [
      { connections: 0, streams: 0, rss: 100 * 1024 * 1024, heapUsed: 20 * 1024 * 1024 },
      { connections, streams: 0, rss: 300 * 1024 * 1024, heapUsed: 150 * 1024 * 1024 },
      { connections, streams, rss: 2.5 * GiB, heapUsed: 2 * GiB },
    ],
  };
}

function run(node: string, s: ScaleResult): BenchResults {
  return { startedAt: '2026-01-01T00:00:00.000Z', quick: false, machine: machine(node), loadAtEnd: 1, totalSeconds: 60, scale: { ok: true, result: s, seconds: 60 } };
}

describe('--nodes', () => {
  it('parses majors and paths, in order', () => {
    expect(parseNodes('20,24')).toEqual([{ major: 20 }, { major: 24 }]);
    expect(parseNodes(' 24 , /opt/node/bin/node')).toEqual([{ major: 24 }, { path: '/opt/node/bin/node' }]);
  });

  it('refuses what is neither a major nor a path, old majors, duplicates and nothing', () => {
    expect(() => parseNodes('lts')).toThrow(/'lts' is neither/);
    expect(() => parseNodes('18')).toThrow(/'18' is not a supported/);
    expect(() => parseNodes('24,24')).toThrow(/v24 twice/);
    expect(() => parseNodes(',')).toThrow(/at least one/);
  });

  it("uses this process's node for its own major and a path as given (nothing installed)", () => {
    expect(resolveNode({ major: 22 }, { version: 'v22.3.0', execPath: '/x/node' })).toBe('/x/node');
    expect(resolveNode({ path: '/y/node' }, { version: 'v22.3.0', execPath: '/x/node' })).toBe('/y/node');
  });

  it('passes every flag on to each pass except --nodes and the output flags', () => {
    expect(passArgs(['--quick', '--nodes', '20,24', '--only', 'scale', '--write', '--json', '--nodes=1', '--out', 'x.json', '--out=y'])).toEqual(['--quick', '--only', 'scale']);
  });

  it('puts each Node version in its own columns of the Targets table', () => {
    const r = sideBySide([run('v20.20.2', scale({ rss: 2.5 * GiB })), run('v24.22.3', scale({ rss: 3.5 * GiB }))]);
    expect(r.otherNodes).toHaveLength(1);
    expect(r.totalSeconds).toBe(120);
    const table = targetsTable(r);
    expect(table[0]).toBe('| scenario | target | Node v20.20.2 | met | Node v24.22.3 | met |');
    expect(table[1]).toBe('|---|---|---|---|---|---|');
    const row = table.find((l) => l.startsWith('| Scale |'))!;
    expect(row).toMatch(/2\.50 GiB RSS.*\| yes \|.*3\.50 GiB RSS.*\| \*\*no\*\* \|$/);
    const md = benchMarkdown(r, new Map());
    expect(md).toContain('Node v20.20.2, v24.22.3');
    expect(md).toContain('- **Scale** (Node v24.22.3):');
  });

  it('keeps one measured column without --nodes', () => {
    expect(targetsTable(run('v20.20.2', scale()))[0]).toBe('| scenario | target | measured | met |');
    expect(sideBySide([run('v20.20.2', scale())]).otherNodes).toBeUndefined();
  });
});

describe('scale target', () => {
  const check = (s: ScaleResult) => checkTargets(run('v20.20.2', s)).find((t) => t.scenario === 'Scale')!;

  it('is met at full size under 3 GiB with every sampled stream exact and its source cancelled', () => {
    expect(check(scale()).met).toBe(true);
  });

  it('is missed over 3 GiB, on a wrong sample, or when cancelling left sources open', () => {
    expect(check(scale({ rss: 3.1 * GiB })).met).toBe(false);
    expect(check(scale({ wrong: 1 })).met).toBe(false);
    expect(check(scale({ wrong: 1 })).note).toContain('1 sampled streams');
    expect(check(scale({ sourcesAfterCancel: 1_000_000 - 999 })).met).toBe(false);
  });

  it('says nothing of the target on a scaled-down run', () => {
    const c = check(scale({ streams: 100_000, connections: 1_500 }));
    expect(c.met).toBeNull();
    expect(c.note).toContain('scaled-down');
  });

  it('renders the sample, the rates and the other processes in its section', () => {
    const md = benchMarkdown(run('v20.20.2', scale()), new Map());
    expect(md).toContain('1,000 received exactly what they requested');
    expect(md).toContain('10,000 streams/s');
    expect(md).toContain('| bench-0 | 300.0 MiB |');
  });
});

describe('pickRandom', () => {
  it('picks k distinct indices below n', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const picked = pickRandom(1_000_000, 1_000, random);
    expect(picked).toHaveLength(1_000);
    expect(new Set(picked).size).toBe(1_000);
    expect(picked.every((i) => Number.isInteger(i) && i >= 0 && i < 1_000_000)).toBe(true);
    expect(pickRandom(5, 5, random).sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
