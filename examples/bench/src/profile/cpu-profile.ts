/**
 * Reads V8 .cpuprofile files (what `node --cpu-prof` writes) and sums self
 * time by function, so where a process spends its CPU can be read without a
 * GUI and compared before and after a change.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One function's share of the sampled time. */
export interface SelfTime {
  /** `name (file:line)`, with the file shortened to its path below the repository or node_modules. */
  readonly fn: string;
  /** Microseconds of self time. */
  readonly micros: number;
  /** Share of all sampled time, 0..1 (idle included, see `busyShare`). */
  readonly share: number;
  /** Share of the non-idle time, 0..1. */
  readonly busyShare: number;
}

/** Pseudo-frames V8 reports that are not work. */
const IDLE = new Set(['(idle)', '(program)']);

/** Self time per function of one profile, largest first; `(garbage collector)` is kept, it is work. */
export async function selfTimes(file: string): Promise<{ totalMicros: number; busyMicros: number; top: SelfTime[] }> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byNode = new Map<number, ProfileNode>();
  for (const n of p.nodes) byNode.set(n.id, n);
  const micros = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const node = byNode.get(p.samples[i]!);
    if (!node) continue;
    total += dt;
    const name = node.callFrame.functionName || '(anonymous)';
    if (IDLE.has(name)) idle += dt;
    const key = `${name} (${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1})`;
    micros.set(key, (micros.get(key) ?? 0) + dt);
  }
  const busy = total - idle;
  const top = [...micros]
    .filter(([k]) => !IDLE.has(k.slice(0, k.indexOf(' ('))))
    .map(([fn, us]) => ({ fn, micros: us, share: total ? us / total : 0, busyShare: busy ? us / busy : 0 }))
    .sort((a, b) => b.micros - a.micros);
  return { totalMicros: total, busyMicros: busy, top };
}

function shortUrl(url: string): string {
  if (!url) return 'native';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  for (const marker of ['/src/', '/dist/', '/clients/']) {
    const i = url.lastIndexOf(marker);
    if (i >= 0) return url.slice(i + 1);
  }
  return url.replace(/^file:\/\//, '');
}
