/**
 * `sluice-bench bench` (npm run bench): every scenario against its baseline in the
 * same run, ratios printed at the end, BENCHMARKS.md and docs/bench/ written
 * after a full run. Loopback only; every scenario bounds its own time.
 */
import { readFile } from 'node:fs/promises';
import { SCENARIOS, type BenchResults, type ScenarioName } from '../results.js';
import { runBench, writeBenchOutputs } from '../runner.js';
import { checkTargets, ratioLines } from '../targets.js';
import { parseFlags } from '../../../../src/cli/args.js';

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
  --render FILE    run nothing: write BENCHMARKS.md and the charts again from a
                   results.json an earlier run wrote (after changing how they are drawn)
`;

export async function benchCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    { quick: { type: 'boolean' }, only: { type: 'string' }, write: { type: 'boolean' }, 'no-write': { type: 'boolean' }, json: { type: 'boolean' }, render: { type: 'string' } },
    usage,
  );
  if (typeof f.render === 'string') {
    const results = JSON.parse(await readFile(f.render, 'utf8')) as BenchResults;
    const files = await writeBenchOutputs(results);
    process.stdout.write(`wrote ${files.join(', ')} from ${f.render}\n`);
    return;
  }
  const only = f.only === undefined ? undefined : parseOnly(String(f.only));
  const quick = f.quick === true;
  const write = f['no-write'] === true ? false : f.write === true || (!quick && !only);
  const json = f.json === true;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const log = json ? (line: string) => process.stderr.write(`${line}\n`) : out;

  log(`Sluice benchmarks${quick ? ' (quick)' : ''}: ${(only ?? SCENARIOS).join(', ')}`);
  const results = await runBench({ quick, log, ...(only ? { only } : {}) });
  if (json) out(JSON.stringify(results, null, 2));
  else {
    out('\nRatios');
    for (const line of ratioLines(results)) out(`  ${line}`);
    out('\nTargets');
    for (const t of checkTargets(results)) out(`  [${t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'}] ${t.scenario}: ${t.target}: ${t.measured}`);
  }
  if (write) {
    const files = await writeBenchOutputs(results);
    log(`\nwrote ${files.join(', ')}`);
  }
  // Children exit with their IPC channel; nothing else should keep the process, but do not wait on stragglers.
  process.exit(Object.values(results).some((v) => typeof v === 'object' && v !== null && 'ok' in v && v.ok === false) ? 1 : 0);
}

function parseOnly(value: string): ScenarioName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`--only: unknown scenario '${n}'; known: ${SCENARIOS.join(', ')}`);
  }
  if (names.length === 0) throw new Error(`--only needs at least one of ${SCENARIOS.join(', ')}`);
  return names as ScenarioName[];
}
