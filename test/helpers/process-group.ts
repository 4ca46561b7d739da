/**
 * Stops a child started in its own process group (`spawn(..., { detached:
 * true })`) together with everything under it. A wrapper such as `npx`,
 * `npm` or `sh -c` does not pass SIGTERM on to the node process it started,
 * so signalling the child alone leaves that process running after the test;
 * signalling the group reaches all of them.
 *
 * Liveness is read from /proc on Linux, ignoring zombies: a process whose
 * parent died is re-parented to PID 1, which in a container may be slow to
 * reap it, and a zombie holds no socket, port or memory.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** A child started in its own process group, its output kept for the test to read. */
export interface GroupChild {
  readonly proc: ChildProcessByStdio<null, Readable, Readable>;
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string;
  /** The child's exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** The first match of `re` in the output so far or to come; rejects, with the output, if the child exits first. */
  waitFor(re: RegExp): Promise<RegExpExecArray>;
}

/** Starts `command` in a process group of its own (stop it with {@link stopProcessGroup}), collecting its output. */
export function spawnGroup(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): GroupChild {
  const proc = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpExecArray) => void }> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      const m = w.re.exec(out);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const waitFor = (re: RegExp) =>
    Promise.race([
      new Promise<RegExpExecArray>((resolve) => {
        const m = re.exec(out);
        if (m) resolve(m);
        else waiters.push({ re, resolve });
      }),
      exited.then((code) => Promise.reject(new Error(`${command} exited (${code}) before ${re}:\n${out}`))),
    ]);
  return { proc, output: () => out, exited, waitFor };
}

/** Ids of the processes of group `pgid` that still run (zombies excluded). */
export function liveGroupMembers(pgid: number): number[] {
  if (process.platform !== 'linux') {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return [];
      throw err;
    }
  }
  const live: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') live.push(Number(entry));
  }
  return live;
}

/**
 * Sends SIGTERM to process group `pgid`, then SIGKILL if any member still
 * runs after `graceMs` (default 5000 ms), and resolves once none runs.
 * Rejects, naming the survivors, if some still run `graceMs` after SIGKILL.
 */
export async function stopProcessGroup(pgid: number, graceMs = 5_000): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  if (await gone(pgid, graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  if (await gone(pgid, graceMs)) return;
  throw new Error(`process group ${pgid} still runs after SIGKILL: ${liveGroupMembers(pgid).join(', ')}`);
}

/** False when the group has no process left to signal. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Polls (every 20 ms, for at most `withinMs`) until no member of the group runs. */
async function gone(pgid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (liveGroupMembers(pgid).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
