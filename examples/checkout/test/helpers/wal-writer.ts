/**
 * A child process for the WAL crash test: opens a store with `openStore`
 * (the services' own parameters), then commits one row at a time, each big
 * enough that the WAL soon crosses into a new segment, printing
 * `committed <n> segments <k>` after each commit, until it is killed.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/db.js';

const dir = process.argv[2]!;
const store = await openStore(dir, 'create table if not exists wal_rows (n integer primary key, body text not null);', { info: () => {} });
const segments = () => readdirSync(join(dir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;
// Bounded: a store's first segment has about 9 MB left, so ~150 rows of 64 KB cross it; 2,000 is far past.
for (let n = 1; n <= 2_000; n++) {
  await store.db.query("insert into wal_rows (n, body) select $1, string_agg(md5(random()::text), '') from generate_series(1, 2000)", [n]);
  process.stdout.write(`committed ${n} segments ${segments()}\n`);
}
process.stdout.write('done\n');
