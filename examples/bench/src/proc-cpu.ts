/**
 * CPU time of another process from /proc/<pid>/stat (Linux): user + system
 * seconds. The benchmarks read it before and after a run to say how much CPU
 * each process spent per request, which is steadier on a shared machine than
 * throughput. Returns undefined where /proc is not available.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds `pid` has used so far, or undefined. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces), counted from field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return (utime + stime) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Measures the CPU `pids` spend during `fn`: seconds per pid, undefined where unreadable. */
export async function cpuDuring<T>(pids: Readonly<Record<string, number | undefined>>, fn: () => Promise<T>): Promise<{ result: T; cpu: Record<string, number | undefined> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const result = await fn();
  const cpu: Record<string, number | undefined> = {};
  for (const [k, pid] of Object.entries(pids)) {
    const a = before[k];
    const b = cpuSeconds(pid);
    cpu[k] = a === undefined || b === undefined ? undefined : b - a;
  }
  return { result, cpu };
}
