/**
 * Several complete runs judged together: per figure and Node version, every
 * run's value in order and their median against the target. One run's
 * figure on a shared 2-core machine lands on either side of a close target
 * by chance; the median over runs spread in time does not, and listing
 * every run keeps the misses in view.
 */
import { median } from './processes.js';
import { figures, meets, targetText, type Figure } from './figures.js';
import type { BenchResults } from './results.js';

export interface AcrossRow {
  readonly name: string;
  readonly unit: Figure['unit'];
  readonly target: Figure['target'];
  /** Per Node version (as in `nodes`): each run's value, null where that run did not measure it. */
  readonly values: ReadonlyArray<ReadonlyArray<number | null>>;
  /** Per Node version: the median of the measured values, null when none was. */
  readonly medians: ReadonlyArray<number | null>;
}

export interface Across {
  /** Node majors, e.g. `20`, in the order the runs first name them. */
  readonly nodes: readonly string[];
  readonly startedAt: readonly string[];
  readonly rows: readonly AcrossRow[];
  /** Whether every figure's median meets its target on every Node version that measured it. */
  readonly allMet: boolean;
}

function major(version: string): string {
  return version.replace(/^v/, '').split('.')[0]!;
}

/** The runs judged together; each run may carry other Node versions' passes (`--nodes`). */
export function across(runs: readonly BenchResults[]): Across {
  if (runs.length === 0) throw new RangeError('across: no runs');
  const nodes: string[] = [];
  const passes = runs.map((run) => {
    const byNode = new Map<string, Figure[]>();
    for (const pass of [run, ...(run.otherNodes ?? [])]) {
      const n = major(pass.machine.node);
      if (!nodes.includes(n)) nodes.push(n);
      byNode.set(n, figures(pass));
    }
    return byNode;
  });
  const names: Figure[] = [];
  for (const byNode of passes) for (const list of byNode.values()) for (const f of list) if (!names.some((x) => x.name === f.name)) names.push(f);
  const rows = names.map((f): AcrossRow => {
    const values = nodes.map((n) => passes.map((byNode) => byNode.get(n)?.find((x) => x.name === f.name)?.value ?? null));
    const medians = values.map((vs) => {
      const measured = vs.filter((v): v is number => v !== null);
      return measured.length ? median(measured) : null;
    });
    return { name: f.name, unit: f.unit, target: f.target, values, medians };
  });
  const allMet = rows.every((row) => row.medians.every((m) => m === null || meets(m, row.target)));
  return { nodes, startedAt: runs.map((r) => r.startedAt), rows, allMet };
}

function num(v: number, unit: Figure['unit']): string {
  return unit === 'µs' ? v.toFixed(1) : v.toFixed(2);
}

/** The "Across runs" section of BENCHMARKS.md. */
export function acrossMarkdown(a: Across): string[] {
  const when = a.startedAt.map((s) => s.slice(0, 16).replace('T', ' ')).join(', ');
  const lines = [
    `## Across ${a.startedAt.length} runs`,
    '',
    `Every figure with a target, from ${a.startedAt.length} complete runs of the same scenarios (started ${when} UTC): each run's value in that order, and their median (of an even count, the mean of the middle two), which is what is judged against the target. One run's figure moves by about as much as the closest margins here, so no run is left out and none is picked. A dash: that run did not measure it.`,
    '',
    `| figure | target | ${a.nodes.map((n) => `Node ${n}: each run | median | met`).join(' | ')} |`,
    `|---|---|${a.nodes.map(() => '---|---|---|').join('')}`,
  ];
  for (const row of a.rows) {
    const cells = a.nodes.map((_, i) => {
      const m = row.medians[i] ?? null;
      const each = row.values[i]!.map((v) => (v === null ? '-' : meets(v, row.target) ? num(v, row.unit) : `**${num(v, row.unit)}**`)).join(', ');
      return m === null ? `${each} | - | n/a` : `${each} | ${num(m, row.unit)} | ${meets(m, row.target) ? 'yes' : '**no**'}`;
    });
    lines.push(`| ${row.name} | ${targetText(row.target, row.unit)} | ${cells.join(' | ')} |`);
  }
  lines.push('', `A run's value in bold missed the target on its own. ${a.allMet ? 'Every median meets its target.' : 'Not every median meets its target.'}`);
  return lines;
}
