import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { DeadLetterStore, type NewDeadLetter } from '../../src/deadletter/store.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = pathToFileURL(join(ROOT, 'src/deadletter/store.ts')).href;

let dir: string;
const opened: DeadLetterStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-dlq-'));
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(options: { maxEntries?: number; maxBytes?: number } = {}): Promise<DeadLetterStore> {
  const store = await DeadLetterStore.open({ dir, ...options });
  opened.push(store);
  return store;
}

/** Closes a store and forgets it (so afterEach does not close it twice). */
async function closeStore(store: DeadLetterStore): Promise<void> {
  opened.splice(opened.indexOf(store), 1);
  await store.close();
}

function letter(n = 1, overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  return {
    route: 'payment.refund',
    model: 'response',
    data: Buffer.from(JSON.stringify({ order: n })).toString('base64'),
    metadata: Buffer.from([0xfe, 0x00, 0x00, 0x01, 0x61]).toString('base64'),
    error: { code: 'UNAVAILABLE', message: `attempt ${n} failed` },
    attempts: 3,
    firstFailedAt: 1_700_000_000_000 + n,
    ...overrides,
  };
}

const logPath = () => join(dir, 'dead-letters.jsonl');
const logLines = async () => (await readFile(logPath(), 'utf8')).split('\n').filter(Boolean);

async function rejection(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe('DeadLetterStore: basics', () => {
  it('opens an empty store, creating the directory', async () => {
    dir = join(dir, 'nested', 'dlq');
    const store = await openStore();
    expect(store.options).toEqual({ dir, maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 });
    expect(store.size).toBe(0);
    expect(store.recovered).toEqual({ entries: 0, pending: 0, tornLines: 0, tornBytes: 0 });
    expect(store.tornLines).toBe(0);
    expect(await logLines()).toEqual(['{"op":"header","version":1,"nextSeq":1}']);
    expect(store.bytes).toBe((await stat(logPath())).size);
  });

  it('validates its options', async () => {
    await expect(DeadLetterStore.open({ dir: '' })).rejects.toThrow('dead-letter store: dir must be a non-empty path');
    await expect(DeadLetterStore.open({ dir, maxEntries: 0 })).rejects.toThrow('dead-letter store: maxEntries must be an integer >= 1, got 0');
    await expect(DeadLetterStore.open({ dir, maxBytes: 1.5 })).rejects.toThrow('dead-letter store: maxBytes must be an integer >= 1, got 1.5');
  });

  it('add: assigns monotonic ids, fills in the bookkeeping, appends one line', async () => {
    const store = await openStore();
    const before = Date.now();
    const a = await store.add(letter(1));
    const b = await store.add(letter(2, { model: 'fnf' }));
    expect(a).toEqual({ id: 'dl-000001', ...letter(1), deadLetteredAt: a.deadLetteredAt, replays: 0, state: 'pending' });
    expect(a.deadLetteredAt).toBeGreaterThanOrEqual(before);
    expect(b.id).toBe('dl-000002');
    expect(b.model).toBe('fnf');
    expect(store.size).toBe(2);
    expect(store.counters).toMatchObject({ added: 2, refused: 0 });
    const lines = await logLines();
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1]!)).toEqual({ op: 'add', entry: a });
    expect(store.bytes).toBe((await stat(logPath())).size);
  });

  it('add: only the known fields reach the file', async () => {
    const store = await openStore();
    const e = await store.add({ ...letter(), extra: 'x', id: 'dl-999999', state: 'replayed' } as unknown as NewDeadLetter);
    expect(e.id).toBe('dl-000001');
    expect(e.state).toBe('pending');
    expect(e).not.toHaveProperty('extra');
    expect(await readFile(logPath(), 'utf8')).not.toContain('extra');
  });

  it.each([
    [{ route: '' }, "dead letter: 'route' must be a non-empty string"],
    [{ model: 'stream' }, "dead letter: 'model' must be 'response' or 'fnf'"],
    [{ data: 'not base64!' }, "dead letter: 'data' must be base64"],
    [{ metadata: 7 }, "dead letter: 'metadata' must be base64"],
    [{ error: { code: 'X' } }, "dead letter: 'error' must be an object { code: string, message: string }"],
    [{ attempts: -1 }, "dead letter: 'attempts' must be an integer >= 0"],
    [{ firstFailedAt: Number.NaN }, "dead letter: 'firstFailedAt' must be epoch ms"],
  ])('add refuses malformed input %j with INVALID_ARGUMENT', async (bad, message) => {
    const store = await openStore();
    const err = await rejection(store.add({ ...letter(), ...bad } as unknown as NewDeadLetter));
    expect([err.code, err.message]).toEqual(['INVALID_ARGUMENT', message]);
    expect(store.size).toBe(0);
  });

  it('list pages after an id', async () => {
    const store = await openStore();
    for (let n = 1; n <= 4; n++) await store.add(letter(n));
    expect(store.list({ after: 'dl-000002' }).map((e) => e.id)).toEqual(['dl-000003', 'dl-000004']);
    expect(store.list({ after: 'dl-000002', limit: 1 }).map((e) => e.id)).toEqual(['dl-000003']);
    expect(store.list({ after: 'dl-000004' })).toEqual([]);
  });

  it('claim gives one replayer an entry at a time; settle records the outcome and gives it back', async () => {
    const store = await openStore();
    const { id } = await store.add(letter(1));
    expect(await store.claim(id)).toMatchObject({ ok: true, entry: { id, state: 'pending' } });
    expect(await store.claim(id)).toEqual({ ok: false, reason: `dead letter '${id}' is being replayed` });
    expect(await store.settle(id, false, { code: 'UNAVAILABLE', message: 'still down' })).toMatchObject({ state: 'pending', replays: 1, error: { message: 'still down' } });
    expect((await store.claim(id)).ok).toBe(true);
    expect(await store.settle(id, true)).toMatchObject({ state: 'replayed', replays: 2 });
    expect((await rejection(store.claim(id))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(store.claim('dl-999999'))).code).toBe('INVALID_ARGUMENT');
  });

  it('get and list return copies, oldest first, filtered by state and route, limited', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await store.add(letter(2, { route: 'inventory.reserve' }));
    await store.add(letter(3));
    await store.recordReplay('dl-000001', true);
    expect(store.list().map((e) => e.id)).toEqual(['dl-000002', 'dl-000003']); // default: pending
    expect(store.list({ state: 'all' }).map((e) => e.id)).toEqual(['dl-000001', 'dl-000002', 'dl-000003']);
    expect(store.list({ state: 'replayed' }).map((e) => e.id)).toEqual(['dl-000001']);
    expect(store.list({ state: 'all', route: 'payment.refund' }).map((e) => e.id)).toEqual(['dl-000001', 'dl-000003']);
    expect(store.list({ state: 'all', limit: 2 }).map((e) => e.id)).toEqual(['dl-000001', 'dl-000002']);
    expect(store.list({ limit: 0 })).toEqual([]);
    expect(() => store.list({ limit: -1 })).toThrow(RangeError);
    const got = store.get('dl-000002')!;
    got.route = 'mutated';
    got.error.code = 'mutated';
    expect(store.get('dl-000002')).toMatchObject({ route: 'inventory.reserve', error: { code: 'UNAVAILABLE' } });
    expect(store.get('dl-404')).toBeUndefined();
  });

  it('recordReplay: a failure counts and becomes the latest error; a success marks it replayed', async () => {
    const store = await openStore();
    await store.add(letter(1));
    const failed = await store.recordReplay('dl-000001', false, { code: 'OVERLOADED', message: 'still busy' });
    expect(failed).toMatchObject({ replays: 1, state: 'pending', error: { code: 'OVERLOADED', message: 'still busy' } });
    const failedAgain = await store.recordReplay('dl-000001', false);
    expect(failedAgain).toMatchObject({ replays: 2, state: 'pending', error: { code: 'OVERLOADED' } });
    const done = await store.recordReplay('dl-000001', true);
    expect(done).toMatchObject({ replays: 3, state: 'replayed' });
    expect(store.size).toBe(0);
    expect(store.counters).toMatchObject({ added: 1, replayed: 1, replayFailures: 2 });
  });

  it('recordReplay refuses unknown ids and entries already replayed (INVALID_ARGUMENT)', async () => {
    const store = await openStore();
    for (let i = 1; i <= 3; i++) await store.add(letter(i)); // enough live entries that one replay does not compact
    expect((await rejection(store.recordReplay('dl-000042', true))).message).toBe("no dead letter 'dl-000042'");
    await store.recordReplay('dl-000001', true);
    expect(store.counters.compactions).toBe(0);
    const again = await rejection(store.recordReplay('dl-000001', true));
    expect([again.code, again.message]).toEqual(['INVALID_ARGUMENT', "dead letter 'dl-000001' was already replayed"]);
  });

  it('serializes writes: concurrent adds get ids and file positions in call order', async () => {
    const store = await openStore();
    const added = await Promise.all(Array.from({ length: 50 }, (_, i) => store.add(letter(i))));
    expect(added.map((e) => e.firstFailedAt)).toEqual(Array.from({ length: 50 }, (_, i) => 1_700_000_000_000 + i));
    expect(added.map((e) => e.id)).toEqual(Array.from({ length: 50 }, (_, i) => `dl-${String(i + 1).padStart(6, '0')}`));
    const ids = (await logLines()).slice(1).map((l) => (JSON.parse(l) as { entry: { id: string } }).entry.id);
    expect(ids).toEqual(added.map((e) => e.id));
  });

  it('fsyncs each append before resolving', async () => {
    const store = await openStore();
    const handle = await open(logPath(), 'r');
    const proto = Object.getPrototypeOf(handle) as { sync: () => Promise<void> };
    await handle.close();
    const sync = vi.spyOn(proto, 'sync');
    try {
      await store.add(letter());
      expect(sync).toHaveBeenCalledTimes(1);
      await store.recordReplay('dl-000001', false);
      expect(sync).toHaveBeenCalledTimes(2);
    } finally {
      sync.mockRestore();
    }
  });

  it('close: waits for queued writes, then refuses with UNAVAILABLE; idempotent', async () => {
    const store = await openStore();
    const pending = store.add(letter());
    await closeStore(store);
    await expect(pending).resolves.toMatchObject({ id: 'dl-000001' });
    const err = await rejection(store.add(letter()));
    expect([err.code, err.message]).toEqual(['UNAVAILABLE', 'dead-letter store is closed']);
    await expect(store.recordReplay('dl-000001', true)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('a failed write is rolled back: the add rejects, the file stays whole, the store goes on', async () => {
    const store = await openStore();
    await store.add(letter(1));
    const handle = await open(logPath(), 'r');
    const proto = Object.getPrototypeOf(handle) as { sync: () => Promise<void> };
    await handle.close();
    const sync = vi.spyOn(proto, 'sync').mockRejectedValueOnce(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    try {
      const err = await rejection(store.add(letter(2)));
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toMatch(/^dead-letter store: writing .*dead-letters\.jsonl failed: ENOSPC: no space left on device$/);
    } finally {
      sync.mockRestore();
    }
    expect(store.size).toBe(1);
    expect(await logLines()).toHaveLength(2); // the half-done line was truncated away
    expect((await store.add(letter(3))).id).toBe('dl-000002');
    await closeStore(store);
    const reopened = await openStore();
    expect(reopened.list().map((e) => e.firstFailedAt)).toEqual([1_700_000_000_001, 1_700_000_000_003]);
    expect(reopened.tornLines).toBe(0);
  });
});

describe('DeadLetterStore: durability', () => {
  it('entries, replays and states survive closing and reopening', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await store.add(letter(2));
    await store.add(letter(3));
    await store.recordReplay('dl-000001', true);
    await store.recordReplay('dl-000002', false, { code: 'INTERNAL', message: 'bad luck' });
    const before = store.list({ state: 'all' });
    await closeStore(store);

    const reopened = await openStore();
    expect(reopened.list({ state: 'all' })).toEqual(before);
    expect(reopened.size).toBe(2);
    expect(reopened.recovered).toEqual({ entries: 3, pending: 2, tornLines: 0, tornBytes: 0 });
    expect((await reopened.add(letter(4))).id).toBe('dl-000004');
  });

  it('survives SIGKILL right after acknowledged adds: every id printed after its add resolved is there', async () => {
    const script = join(dir, 'writer.mts');
    await writeFile(
      script,
      `const { DeadLetterStore } = await import(${JSON.stringify(MODULE)});
const store = await DeadLetterStore.open({ dir: process.argv[2] });
const data = Buffer.alloc(8 * 1024, 7).toString('base64');
for (let i = 0; i < 5000; i++) {
  const e = await store.add({ route: 'crash.test', model: 'fnf', data, metadata: '', error: { code: 'UNAVAILABLE', message: 'm' + i }, attempts: 1, firstFailedAt: i });
  process.stdout.write(e.id + '\\n');
}
`,
    );
    const storeDir = join(dir, 'store');
    const child = spawn(process.execPath, ['--import', 'tsx', script, storeDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const printed: string[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const killed = new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        printed.push(...lines);
        if (printed.length >= 40 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL'); // mid-way: the writer is busy with the next add
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`writer exited before it was killed: ${stderr}`)));
    });
    try {
      await killed;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); // never leave a writer behind
    }
    expect(await exited).toBe('SIGKILL');

    dir = storeDir;
    const store = await openStore();
    const ids = new Set(store.list({ state: 'all' }).map((e) => e.id));
    for (const id of printed) expect(ids.has(id), id).toBe(true);
    expect(store.size).toBeGreaterThanOrEqual(printed.length);
    expect(store.tornLines).toBeLessThanOrEqual(1);
    // The store goes on after the crash with the next id.
    const next = await store.add(letter());
    expect(Number(next.id.slice(3))).toBe(store.size);
  });

  it('tolerates a torn last line: drops it, truncates the file, reports it', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await store.add(letter(2));
    await closeStore(store);
    const whole = (await stat(logPath())).size;
    const torn = '{"op":"add","entry":{"id":"dl-000003","rou';
    await appendFile(logPath(), torn);

    const reopened = await openStore();
    expect(reopened.recovered).toEqual({ entries: 2, pending: 2, tornLines: 1, tornBytes: torn.length });
    expect((await stat(logPath())).size).toBe(whole);
    expect((await reopened.add(letter(3))).id).toBe('dl-000003');
    await closeStore(reopened);
    const again = await openStore();
    expect(again.tornLines).toBe(0);
    expect(again.size).toBe(3);
  });

  it('tolerates a whole but unparseable last line (a torn write padded with zeros)', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await closeStore(store);
    await appendFile(logPath(), '\0\0\0\0\0\0\n');
    const reopened = await openStore();
    expect(reopened.recovered).toMatchObject({ entries: 1, tornLines: 1, tornBytes: 7 });
  });

  it('a file torn inside its only line starts empty', async () => {
    await writeFile(logPath(), '{"op":"hea');
    const store = await openStore();
    expect(store.recovered).toEqual({ entries: 0, pending: 0, tornLines: 1, tornBytes: 10 });
    expect((await store.add(letter())).id).toBe('dl-000001');
  });

  it('refuses a file corrupt before its end, naming the line', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await store.add(letter(2));
    await closeStore(store);
    const lines = await logLines();
    lines[1] = 'this is not json';
    await writeFile(logPath(), `${lines.join('\n')}\n`);
    const err = await rejection(DeadLetterStore.open({ dir }));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/dead-letters\.jsonl is corrupt at line 2 \(not a valid record\); move the file aside to start empty$/);
  });

  it('removes a temp file left by a compaction that crashed before its rename', async () => {
    await writeFile(join(dir, 'dead-letters.jsonl.tmp'), '{"op":"header"');
    await openStore();
    expect((await readdir(dir)).sort()).toEqual(['dead-letters.jsonl', 'dead-letters.lock']);
  });
});

describe('DeadLetterStore: bounds', () => {
  it('refuses by count with OVERLOADED naming the limit; never drops existing entries', async () => {
    const store = await openStore({ maxEntries: 3 });
    for (let i = 1; i <= 3; i++) await store.add(letter(i));
    const err = await rejection(store.add(letter(4)));
    expect([err.code, err.message]).toEqual(['OVERLOADED', 'dead-letter queue full (3 pending entries, maxEntries=3)']);
    expect(err.details).toEqual({ maxEntries: 3, maxBytes: 64 * 1024 * 1024 });
    expect(store.counters).toMatchObject({ added: 3, refused: 1 });
    expect(store.list().map((e) => e.id)).toEqual(['dl-000001', 'dl-000002', 'dl-000003']);
    await store.recordReplay('dl-000002', true); // room again
    expect((await store.add(letter(5))).id).toBe('dl-000004'); // the refused add used no id
  });

  it('refuses by bytes with OVERLOADED naming the limit', async () => {
    const store = await openStore({ maxBytes: 1_000 });
    const header = store.bytes;
    await store.add(letter(1));
    const perEntry = store.bytes - header;
    const fits = Math.floor((1_000 - header) / perEntry);
    for (let i = 2; i <= fits; i++) await store.add(letter(i));
    const err = await rejection(store.add(letter(fits + 1)));
    expect(err.code).toBe('OVERLOADED');
    expect(err.message).toBe(`dead-letter queue full (an entry of ${perEntry} bytes would take the log to ${store.bytes + perEntry} bytes, maxBytes=1000)`);
    expect(store.size).toBe(fits);
    expect(store.bytes).toBeLessThanOrEqual(1_000);
    expect(store.counters.refused).toBe(1);
  });

  it('an entry larger than maxBytes on its own is refused', async () => {
    const store = await openStore({ maxBytes: 200 });
    const err = await rejection(store.add(letter(1, { data: Buffer.alloc(300).toString('base64') })));
    expect(err.message).toMatch(/^dead-letter queue full \(an entry of \d+ bytes would take the log to \d+ bytes, maxBytes=200\)$/);
  });

  it('when full by bytes with dead weight in the file, compacts instead of refusing', async () => {
    const store = await openStore({ maxBytes: 1_000 });
    const header = store.bytes;
    await store.add(letter(1));
    const perEntry = store.bytes - header;
    const fits = Math.floor((1_000 - header) / perEntry);
    for (let i = 2; i <= fits; i++) await store.add(letter(i));
    await store.recordReplay('dl-000001', true); // dead weight, not yet half the file
    expect(store.counters.compactions).toBe(0);
    const added = await store.add(letter(99));
    expect(added.state).toBe('pending');
    expect(store.counters.compactions).toBe(1);
    expect(store.bytes).toBeLessThanOrEqual(1_000);
    expect(store.get('dl-000001')).toBeUndefined(); // replayed history compacted away
  });
});

describe('DeadLetterStore: compaction', () => {
  it('keeps pending entries with their replay state and drops replayed ones', async () => {
    const store = await openStore();
    for (let i = 1; i <= 4; i++) await store.add(letter(i));
    await store.recordReplay('dl-000002', false, { code: 'OVERLOADED', message: 'busy' });
    await store.recordReplay('dl-000003', true);
    const pendingBefore = store.list();
    const bytesBefore = store.bytes;
    await store.compact();
    expect(store.list()).toEqual(pendingBefore);
    expect(store.list({ state: 'replayed' })).toEqual([]);
    expect(store.bytes).toBeLessThan(bytesBefore);
    expect(store.bytes).toBe((await stat(logPath())).size);
    const lines = await logLines();
    expect(lines[0]).toBe('{"op":"header","version":1,"nextSeq":5}');
    expect(lines.slice(1).map((l) => (JSON.parse(l) as { op: string }).op)).toEqual(['add', 'add', 'add']);
    await closeStore(store);
    const reopened = await openStore();
    expect(reopened.list()).toEqual(pendingBefore);
    expect(reopened.get('dl-000002')).toMatchObject({ replays: 1, error: { code: 'OVERLOADED', message: 'busy' } });
  });

  it('keeps ids monotonic across restarts even when compaction removed every entry', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await store.add(letter(2));
    await store.recordReplay('dl-000001', true);
    await store.recordReplay('dl-000002', true); // most of the file is dead: compacts automatically
    expect(store.counters.compactions).toBeGreaterThanOrEqual(1);
    expect(store.list({ state: 'all' })).toEqual([]);
    await closeStore(store);
    const reopened = await openStore();
    expect(reopened.recovered.entries).toBe(0);
    expect((await reopened.add(letter(3))).id).toBe('dl-000003');
  });

  it('runs automatically once dead records exceed half the file', async () => {
    const store = await openStore();
    for (let i = 1; i <= 6; i++) await store.add(letter(i));
    await store.recordReplay('dl-000001', true);
    await store.recordReplay('dl-000002', true);
    expect(store.counters.compactions).toBe(0); // 2 of 6 entries dead, plus 2 small records: under half
    await store.recordReplay('dl-000003', true); // 3 of 6 plus 3 records: over half
    expect(store.counters.compactions).toBe(1);
    expect(store.list({ state: 'all' }).map((e) => e.id)).toEqual(['dl-000004', 'dl-000005', 'dl-000006']);
    expect((await store.add(letter(7))).id).toBe('dl-000007');
  });

  it('compacts at open when the log is mostly dead weight', async () => {
    const store = await openStore();
    await store.add(letter(1));
    await store.add(letter(2));
    await store.add(letter(3));
    await store.recordReplay('dl-000001', true);
    await closeStore(store);
    // Simulate a log written by a process that died before compacting.
    await appendFile(logPath(), `${JSON.stringify({ op: 'replay', id: 'dl-000002', ok: true, at: 1 })}\n`);
    const reopened = await openStore();
    expect(reopened.counters.compactions).toBe(1);
    expect(reopened.list({ state: 'all' }).map((e) => e.id)).toEqual(['dl-000003']);
  });
});

describe('DeadLetterStore: single writer', () => {
  it('a second store on the same directory is refused (UNAVAILABLE) until the first closes', async () => {
    const first = await openStore();
    const refused = await rejection(openStore());
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.message).toMatch(/in use by another store in this process/);
    await closeStore(first);
    expect(await readdir(dir)).not.toContain('dead-letters.lock');
    const second = await openStore();
    expect(second.size).toBe(0);
  });

  it('a lock held by another live process is refused, naming the process', async () => {
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await new Promise<void>((resolve, reject) => holder.once('spawn', resolve).once('error', reject));
      await writeFile(join(dir, 'dead-letters.lock'), String(holder.pid));
      const refused = await rejection(openStore());
      expect(refused.code).toBe('UNAVAILABLE');
      expect(refused.message).toContain(`in use by process ${holder.pid}`);
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve(undefined) : holder.once('exit', resolve)));
    // The holder is gone: its lock is stale and taken over.
    const store = await openStore();
    expect(await readFile(join(dir, 'dead-letters.lock'), 'utf8')).toBe(String(process.pid));
    await closeStore(store);
  });
});

describe('DeadLetterStore: deduplication index', () => {
  it('findPending finds the oldest pending entry with the same model, route and data, and forgets it once replayed', async () => {
    const store = await openStore();
    const a = await store.add(letter(1));
    const b = await store.add(letter(1, { error: { code: 'POISON_MESSAGE', message: 'again' } }));
    await store.add(letter(2));
    const data1 = letter(1).data;
    expect(store.findPending('response', 'payment.refund', data1)?.id).toBe(a.id);
    expect(store.findPending('fnf', 'payment.refund', data1)).toBeUndefined();
    expect(store.findPending('response', 'other.route', data1)).toBeUndefined();
    await store.recordReplay(a.id, false);
    expect(store.findPending('response', 'payment.refund', data1)?.id).toBe(a.id); // a failed replay keeps it pending
    await store.recordReplay(a.id, true);
    expect(store.findPending('response', 'payment.refund', data1)?.id).toBe(b.id);
    await store.recordReplay(b.id, true);
    expect(store.findPending('response', 'payment.refund', data1)).toBeUndefined();
  });

  it('is rebuilt from the log on open, with the pending entries only', async () => {
    const store = await openStore();
    const a = await store.add(letter(1));
    const b = await store.add(letter(2));
    await store.recordReplay(a.id, true);
    await closeStore(store);
    const reopened = await openStore();
    expect(reopened.findPending('response', 'payment.refund', letter(1).data)).toBeUndefined();
    expect(reopened.findPending('response', 'payment.refund', letter(2).data)?.id).toBe(b.id);
  });
});
