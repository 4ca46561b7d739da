import { mkdtemp, readdir, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { EmbeddedQueue, openEmbeddedBackend } from '../../src/durable/embedded-queue.js';
import { decodeRecords, encodeRecord, RecordType } from '../../src/durable/log-record.js';
import type { Delivery, QueueLimits } from '../../src/durable/queue.js';

let dir: string;
const opened: EmbeddedQueue[] = [];
const limits: QueueLimits = { maxMessages: 100, maxBytes: 1024 * 1024, dedupeWindowMs: 60_000, ackTimeoutMs: 30_000 };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-durable-'));
});
afterEach(async () => {
  for (const q of opened.splice(0)) await q.close();
  await rm(dir, { recursive: true, force: true });
});

async function openQueue(l: Partial<QueueLimits> = {}, segmentBytes = 1024 * 1024): Promise<EmbeddedQueue> {
  const q = await EmbeddedQueue.open('orders.place', dir, { ...limits, ...l }, segmentBytes);
  opened.push(q);
  return q;
}

async function reopen(q: EmbeddedQueue, l: Partial<QueueLimits> = {}, segmentBytes?: number): Promise<EmbeddedQueue> {
  opened.splice(opened.indexOf(q), 1);
  await q.close();
  return openQueue(l, segmentBytes);
}

const cmd = (text: string, key?: string) => ({ payload: { data: new TextEncoder().encode(text), metadata: Uint8Array.of(1, 2, 3) }, key });
const text = (d: Delivery) => new TextDecoder().decode(d.payload.data!);

/** Pulls up to `max` ready deliveries without waiting when there are none. */
async function take(q: EmbeddedQueue, max: number): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const ac = new AbortController();
  const p = q.pull(max, (d) => out.push(d), ac.signal);
  // A pull with nothing ready waits for a command: end it at once.
  await Promise.resolve();
  ac.abort();
  await p;
  return out;
}

describe('embedded durable queue', () => {
  it('acknowledges an append only once the record is on disk, and delivers it after a reopen', async () => {
    const q = await openQueue();
    const a = await q.append(cmd('one', 'k1'));
    expect(a).toEqual({ id: '1', duplicate: false });
    // On disk already, before any close: read the file as a crash would leave it.
    const seg = (await readdir(dir)).find((f) => f.startsWith('seg-'))!;
    const { records } = decodeRecords(await readFile(join(dir, seg)));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ type: RecordType.PUT, seq: 1, key: 'k1' });
    const q2 = await reopen(q);
    const [d] = await take(q2, 10);
    expect(text(d!)).toBe('one');
    expect(d!.payload.metadata).toEqual(Uint8Array.of(1, 2, 3));
    expect(d!.deliveries).toBe(1);
  });

  it('never hands over more than asked, and an acked command is gone after a reopen', async () => {
    const q = await openQueue();
    for (let i = 0; i < 5; i++) await q.append(cmd(`c${i}`));
    const first = await take(q, 2);
    expect(first.map(text)).toEqual(['c0', 'c1']);
    first[0]!.ack();
    expect(q.stats().depth).toBe(4);
    const q2 = await reopen(q);
    // c1 was delivered but not acked: it comes back, in order.
    expect((await take(q2, 10)).map(text)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('deduplicates a key within the window, also across a reopen, and not after it', async () => {
    const q = await openQueue({ dedupeWindowMs: 60_000 });
    const a = await q.append(cmd('x', 'same'));
    const [b, c] = await Promise.all([q.append(cmd('x', 'same')), q.append(cmd('y', 'other'))]);
    expect(b).toEqual({ id: a.id, duplicate: true });
    expect(c.duplicate).toBe(false);
    const q2 = await reopen(q);
    expect(await q2.append(cmd('x', 'same'))).toEqual({ id: a.id, duplicate: true });
    const q3 = await reopen(q2, { dedupeWindowMs: 0 });
    expect((await q3.append(cmd('x', 'same'))).duplicate).toBe(false);
  });

  it('refuses OVERLOADED with a retry hint at its bound of commands and of bytes', async () => {
    const q = await openQueue({ maxMessages: 2 });
    await q.append(cmd('a'));
    await q.append(cmd('b'));
    const err = await q.append(cmd('c')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('OVERLOADED');
    expect((err as SluiceError).details).toEqual({ retryAfterMs: 1_000 });
    const [d] = await take(q, 1);
    d!.ack();
    await q.append(cmd('c'));
    const small = await reopen(q, { maxBytes: 1024, maxMessages: 100 });
    const big = await small.append(cmd('z'.repeat(2000))).catch((e: unknown) => e);
    expect((big as SluiceError).code).toBe('OVERLOADED');
  });

  it('redelivers a nacked command only after its delay, with its delivery count', async () => {
    const q = await openQueue();
    await q.append(cmd('a'));
    const [d1] = await take(q, 1);
    d1!.nack(50);
    expect(await take(q, 1)).toEqual([]);
    const got: Delivery[] = [];
    await q.pull(1, (d) => got.push(d), new AbortController().signal);
    expect(got[0]!.deliveries).toBe(2);
    got[0]!.term();
    expect(q.stats().depth).toBe(0);
  });

  it('cuts a torn tail left by a crash mid-write and keeps every whole record', async () => {
    const q = await openQueue();
    await q.append(cmd('whole'));
    const q0 = q;
    opened.splice(opened.indexOf(q0), 1);
    await q0.close();
    const seg = join(dir, (await readdir(dir)).find((f) => f.startsWith('seg-'))!);
    const torn = encodeRecord({ type: RecordType.PUT, seq: 2, enqueuedAt: Date.now(), key: undefined, payload: cmd('torn').payload });
    await appendFile(seg, torn.subarray(0, torn.length - 3));
    const q2 = await openQueue();
    // Cut on open, before a delivery appends its count.
    expect((await stat(seg)).size).toBe(encodeRecord({ type: RecordType.PUT, seq: 1, enqueuedAt: 0, key: undefined, payload: cmd('whole').payload }).length);
    expect((await take(q2, 10)).map(text)).toEqual(['whole']);
    expect((await q2.append(cmd('next'))).id).toBe('2');
  });

  it('deletes old segments once nothing in them is live, copying a pinned command forward', async () => {
    const q = await openQueue({ dedupeWindowMs: 0 }, 64 * 1024);
    const body = 'p'.repeat(20_000);
    for (let i = 0; i < 12; i++) await q.append(cmd(`${i}:${body}`));
    const segs = async () => (await readdir(dir)).filter((f) => f.startsWith('seg-')).length;
    expect(await segs()).toBeGreaterThanOrEqual(4);
    const all = await take(q, 12);
    // Everything acked but the very first command, which pins the oldest segment.
    for (const d of all.slice(1)) d.ack();
    all[0]!.nack(0);
    let n = await segs();
    for (let i = 0; i < 100 && n > 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      n = await segs();
    }
    expect(n).toBeLessThanOrEqual(2);
    const q2 = await reopen(q, { dedupeWindowMs: 0 }, 64 * 1024);
    const left = await take(q2, 12);
    expect(left.map((d) => text(d).split(':')[0])).toEqual(['0']);
    // Its delivery count was copied forward with it.
    expect(left[0]!.deliveries).toBe(2);
  });

  it('persists delivery counts before delivering, so a reopen (as after a crash) resumes them', async () => {
    const q = await openQueue();
    await q.append(cmd('poison'));
    await q.append(cmd('fine'));
    const [first, fine] = await take(q, 2);
    expect(first!.deliveries).toBe(1);
    fine!.ack();
    first!.nack(0);
    const [second] = await take(q, 1);
    expect(second!.deliveries).toBe(2);
    // No settlement: the gateway is gone with the command in flight. The count is on disk already.
    const seg = (await readdir(dir)).find((f) => f.startsWith('seg-'))!;
    const { records } = decodeRecords(await readFile(join(dir, seg)));
    expect(records.filter((r) => r.type === RecordType.DELIVER && r.seq === 1).map((r) => (r as { deliveries: number }).deliveries)).toEqual([1, 2]);
    const q2 = await reopen(q);
    const again = await take(q2, 10);
    expect(again.map((d) => [text(d), d.deliveries])).toEqual([['poison', 3]]);
  });

  it('lets one backend hold a directory at a time and takes over a lock whose process is gone', async () => {
    const backend = await openEmbeddedBackend({ dir });
    await expect(openEmbeddedBackend({ dir })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await backend.close();
    // A lock left by a process killed with -9: its pid is no longer running.
    await writeFile(join(dir, 'LOCK'), '2147483646');
    const again = await openEmbeddedBackend({ dir });
    const q = await again.open('a/b:c', limits);
    await q.append(cmd('x'));
    expect(await again.existingRoutes()).toEqual(['a/b:c']);
    await again.close();
  });
});
