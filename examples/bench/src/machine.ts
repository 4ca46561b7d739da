/** The machine a benchmark ran on, for BENCHMARKS.md: numbers mean little without it. */
import { readdirSync, statSync } from 'node:fs';
import { arch, cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../../src/paths.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  /** 1-minute load average when the run started: above the core count means others were busy too. */
  readonly loadAtStart: number;
  /** What the child processes ran: bin/sluice.js runs the compiled bundle when it is fresh, the TypeScript sources through tsx otherwise. */
  readonly build: string;
}

export function describeMachine(): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()} ${arch()}`,
    node: process.version,
    loadAtStart: loadavg()[0] ?? 0,
    build: bundleIsFresh() ? 'the compiled JavaScript (dist/)' : 'the TypeScript sources through tsx',
  };
}

/** The same test bin/sluice.js makes: the compiled CLI exists and is newer than every source file. */
function bundleIsFresh(): boolean {
  if (process.env.SLUICE_FROM_SOURCE === '1') return false;
  const newest = (dir: string): number => {
    let latest = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'dist' || entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }
    return latest;
  };
  try {
    return statSync(packagePath('dist', 'src', 'cli', 'main.js')).mtimeMs >= Math.max(newest(packagePath('src')), newest(packagePath('clients')));
  } catch {
    return false;
  }
}

/** The 1-minute load average now. */
export function loadNow(): number {
  return loadavg()[0] ?? 0;
}
