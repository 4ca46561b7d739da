/**
 * A single-writer lock on a directory: the dead-letter log is append-only
 * with one writer's idea of where the file ends, so a second writer (another
 * gateway process, or a second store in this one) would interleave records
 * and corrupt it. The lock is a file holding the owner's pid, created
 * exclusively; a lock left by a process that is gone (kill -9) is taken over.
 * Node only.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../errors.js';

/** Lock files this process holds, by path: a second store in the same process is refused too. */
const held = new Set<string>();

/** Releases a lock taken with `lockDir`; idempotent. */
export type Unlock = () => Promise<void>;

/**
 * Takes the lock file `name` in `dir` (which must exist). Rejects with
 * SluiceError UNAVAILABLE naming the holder when a live process (this one
 * included) holds it.
 */
export async function lockDir(dir: string, name: string): Promise<Unlock> {
  const path = join(dir, name);
  if (held.has(path)) throw new SluiceError('UNAVAILABLE', `${dir} is in use by another store in this process`);
  // Two rounds at most: the second runs only after a stale lock was removed.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(String(process.pid));
      } finally {
        await handle.close();
      }
      held.add(path);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        held.delete(path);
        await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    // Our own pid in a lock we do not hold is a leftover of an earlier process that had our pid.
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new SluiceError('UNAVAILABLE', `${dir} is in use by process ${owner} (remove ${path} if that is wrong)`);
    }
    await rm(path, { force: true });
  }
  throw new SluiceError('UNAVAILABLE', `cannot lock ${dir}: another process keeps taking ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
