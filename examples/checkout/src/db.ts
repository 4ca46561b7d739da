/**
 * The embedded store every checkout service owns: PGlite (Postgres compiled
 * to WebAssembly) on a directory of its own, no server to run. A commit is
 * written to the data directory before `query`/`transaction` resolves, so
 * whatever a service acknowledged survives a kill -9 of that service (PGlite
 * recovers from its WAL on the next open).
 *
 * PGlite is one backend: statements and transactions run one at a time, which
 * is what makes "check then update" inside a transaction race-free (the
 * inventory service relies on it). Constraints (unique keys, checks) back
 * every invariant anyway.
 *
 * Two processes must never open one data directory: a lock file holding the
 * owner's pid guards it; a lock left by a killed process is taken over.
 */
import { access, cp, mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'sluice';

export type { PGlite };

export interface Store {
  readonly db: PGlite;
  readonly dir: string;
  close(): Promise<void>;
}

const LOCK_FILE = 'sluice.lock';

/**
 * How every store's Postgres starts: PGlite's own parameters (single user,
 * fsync off) plus `wal_init_zero=off`. With it on (Postgres' default) the
 * statement whose commit crosses into a new 16 MB WAL segment first writes
 * the whole segment with zeros through PGlite's file system layer: 50-110 ms
 * of one statement, once every 16 MB of WAL (a fresh store is 7 MB into its
 * first segment; a place writes about 2.5 KB), which was the slowest
 * one-row place at 25-100 orders/s. Off, the segment is created by writing
 * its last byte, a few ms. Recovery does not rely on the zeros: it reads
 * records until one fails its CRC or its page header, and an unwritten part
 * of the file reads as zeros either way (the zero-fill reserves disk space
 * and helps fsync, and PGlite's fsync is a no-op).
 */
export const STORE_START_PARAMS: readonly string[] = [...PGlite.defaultStartParams, '-c', 'wal_init_zero=off'];

/**
 * Opens (creating on first use) the PGlite database in `dir` and applies
 * `schema` (idempotent DDL: `create table if not exists ...`).
 * The first open of an empty directory initialises a cluster (a few seconds);
 * later opens take well under a second.
 */
export async function openStore(dir: string, schema: string, log: Pick<Logger, 'info'>): Promise<Store> {
  await mkdir(dir, { recursive: true });
  await lock(dir);
  const started = Date.now();
  let db: PGlite;
  try {
    db = await PGlite.create(dir, { startParams: [...STORE_START_PARAMS] });
    await db.exec(schema);
  } catch (err) {
    await unlock(dir);
    throw new Error(`cannot open the store in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  log.info({ dir, ms: Date.now() - started }, 'store opened');
  let closed = false;
  return {
    db,
    dir,
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
      await unlock(dir);
    },
  };
}

/**
 * Initialises every directory of `dirs` that holds no database yet with one
 * shared fresh cluster, copied: a cluster's first initialisation costs
 * seconds of CPU, so the demo pays it once rather than once per service.
 * Directories that already hold a database are left alone.
 */
export async function prepareStoreDirs(dirs: readonly string[], log: Logger): Promise<void> {
  const missing: string[] = [];
  for (const dir of dirs) if (!(await exists(join(dir, 'PG_VERSION')))) missing.push(dir);
  if (missing.length === 0) return;
  const parent = dirname(missing[0]!);
  await mkdir(parent, { recursive: true });
  const scratch = await mkdtemp(join(parent, '.init-'));
  try {
    const started = Date.now();
    const db = await PGlite.create(scratch);
    await db.close();
    for (const dir of missing) await cp(scratch, dir, { recursive: true, errorOnExist: true, force: false });
    log.info({ dirs: missing, ms: Date.now() - started }, 'initialised empty stores');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function lock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new Error(`data dir ${dir} is in use by process ${owner} (remove ${path} if that is wrong)`);
    }
    // Left by a process that is gone (kill -9): take it over.
    await rm(path, { force: true });
  }
  throw new Error(`cannot lock data dir ${dir}`);
}

async function unlock(dir: string): Promise<void> {
  await rm(join(dir, LOCK_FILE), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
