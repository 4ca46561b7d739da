/**
 * The test helper that stops a child's whole process group: a shell's
 * children are stopped with it, and a member that ignores SIGTERM is killed
 * after the grace period. Real processes, no timing asserted.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/harness.js';
import { liveGroupMembers, stopProcessGroup } from '../helpers/process-group.js';

/** Starts `sh -c script` in a group of its own and waits until `members` processes run in it. */
async function group(script: string, members: number): Promise<number> {
  const proc = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  await eventually(() => liveGroupMembers(proc.pid!).length >= members, `${members} processes in the group`, 250, 20);
  return proc.pid!;
}

describe('stopProcessGroup', () => {
  it('stops a wrapper and the processes it started, which signalling the wrapper alone leaves running', async () => {
    const pgid = await group('sleep 300 & sleep 300 & wait', 3);
    const members = liveGroupMembers(pgid);
    process.kill(pgid, 'SIGTERM');
    await eventually(() => !liveGroupMembers(pgid).includes(pgid), 'the shell ended', 250, 20);
    // The shell is gone but its children are not: this is the leak.
    expect(liveGroupMembers(pgid).length).toBe(2);
    await stopProcessGroup(pgid);
    expect(liveGroupMembers(pgid)).toEqual([]);
    for (const pid of members) expect(liveGroupMembers(pgid)).not.toContain(pid);
  });

  it('kills a member that ignores SIGTERM once the grace period is over', async () => {
    const proc = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')"], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    // Until its handler is installed SIGTERM would end it, and the test would prove nothing.
    await new Promise((resolve) => proc.stdout!.once('data', resolve));
    await stopProcessGroup(proc.pid!, 200);
    expect(liveGroupMembers(proc.pid!)).toEqual([]);
    expect(proc.signalCode ?? (await new Promise((resolve) => proc.once('exit', (_code, signal) => resolve(signal))))).toBe('SIGKILL');
  });

  it('resolves at once for a group that has already ended', async () => {
    const pgid = await group('exit 0', 0);
    await eventually(() => liveGroupMembers(pgid).length === 0, 'the shell ended', 250, 20);
    await expect(stopProcessGroup(pgid)).resolves.toBeUndefined();
  });
});
