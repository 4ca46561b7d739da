/** `sluice bench` (npm run bench): benchmarks that report ratios against baselines measured in the same run. */
import { cpus, totalmem } from 'node:os';
import { fmt, runHopCost } from '../bench/hop-cost.js';
import { intFlag, parseFlags } from './args.js';

const usage = `usage: sluice bench [options]     (npm run bench -- [options])

  --items N      items per stream per run   (default 200000)
  --streams N    concurrent streams         (default 4)
  --runs N       measured runs per side     (default 3)
  --json         print the result as JSON
`;

export async function benchCommand(argv: string[]): Promise<void> {
  const f = parseFlags(argv, { items: { type: 'string' }, streams: { type: 'string' }, runs: { type: 'string' }, json: { type: 'boolean' } }, usage);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (!f.json) out(`Sluice benchmarks on ${machine}\n\nHop cost: bench.source, 100-byte items, through the gateway vs the same service directly`);
  const result = await runHopCost({
    ...defined({ items: intFlag(f.items, '--items', 1, 1e8), streams: intFlag(f.streams, '--streams', 1, 10_000), runs: intFlag(f.runs, '--runs', 1, 100) }),
    log: f.json ? undefined : out,
  });
  if (f.json) {
    out(JSON.stringify({ machine, hopCost: result }, null, 2));
    return;
  }
  out(`  via gateway  ${fmt(result.gateway)} items/s (median)`);
  out(`  direct       ${fmt(result.direct)} items/s (median)`);
  out(`  ratio        ${result.ratio.toFixed(2)}  (gateway / direct)`);
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
