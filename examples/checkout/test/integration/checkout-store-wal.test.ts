/**
 * The stores' WAL settings on real PGlite, through a kill -9: a commit that
 * crosses into a new WAL segment must not pay for zero-filling it (the
 * slowest one-row place was that), and what was committed into a segment
 * created without the zeros must survive a kill -9 of the process and be
 * replayed on the next open.
 */
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/db.js';
import { pgliteTemplate } from '../helpers/checkout.js';
import { spawnGroup, stopProcessGroup } from '../../../../test/helpers/process-group.js';

const checkoutDir = fileURLToPath(new URL('../..', import.meta.url));
const writer = fileURLToPath(new URL('../helpers/wal-writer.ts', import.meta.url));
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('store WAL segments', () => {
  it('creates a new segment without zero-filling it, and replays commits in it after kill -9', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sluice-wal-'));
    dirs.push(root);
    const dir = join(root, 'store');
    await cp(await pgliteTemplate(), dir, { recursive: true });

    const child = spawnGroup(process.execPath, ['--import', 'tsx', writer, dir], { cwd: checkoutDir, env: { ...process.env } });
    let committed = 0;
    try {
      // Well into the second segment: a few commits after the one that created it.
      const crossed = await child.waitFor(/committed (\d+) segments 2\n/);
      const target = Number(crossed[1]) + 5;
      const m = await child.waitFor(new RegExp(`committed ${target} segments \\d+\\n`));
      expect(m).toBeTruthy();
      process.kill(-child.proc.pid!, 'SIGKILL');
      await child.exited;
      committed = Math.max(...[...child.output().matchAll(/committed (\d+) /g)].map((x) => Number(x[1])));
    } finally {
      await stopProcessGroup(child.proc.pid!);
    }
    expect(child.output()).not.toContain('done');

    // The new segment has its full size but not its blocks: only what was written since is allocated.
    const segments = readdirSync(join(dir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).sort();
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const last = await stat(join(dir, 'pg_wal', segments[segments.length - 1]!));
    expect(last.size).toBe(16 * 1024 * 1024);
    expect(last.blocks * 512).toBeLessThan(last.size / 2);

    // Reopened (the lock of the killed process is taken over): every acknowledged commit is there.
    const store = await openStore(dir, 'select 1;', { info: () => {} });
    try {
      expect((await store.db.query<{ wal_init_zero: string }>('show wal_init_zero')).rows[0]!.wal_init_zero).toBe('off');
      const rows = await store.db.query<{ n: number; max: number }>('select count(*)::int as n, max(n)::int as max from wal_rows');
      expect(rows.rows[0]!.max).toBeGreaterThanOrEqual(committed);
      expect(rows.rows[0]!.n).toBe(rows.rows[0]!.max);
    } finally {
      await store.close();
    }
  }, 120_000);
});
