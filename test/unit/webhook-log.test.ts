/** The webhook delivery log: state rebuilt on open, a torn last record dropped, corruption refused, bounds, compaction. */
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookLog, type Subscription } from '../../src/webhooks/webhook-log.js';
import { signatureHeaders } from '../../src/webhooks/signature.js';
import { Webhook } from 'standardwebhooks';

let dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  dirs = [];
});
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sluice-whlog-'));
  dirs.push(d);
  return d;
}
const opts = (d: string) => ({ dir: d, maxPending: 100, maxBytes: 1024 * 1024, maxDead: 2 });
const sub: Subscription = { id: 'wh_1', topic: 't', url: 'https://h/x', secret: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', owner: 'o', createdAt: 1 };

describe('webhook log', () => {
  it('rebuilds subscriptions, pending, failed and dead deliveries on open; ids keep increasing', async () => {
    const d = await dir();
    const a = await WebhookLog.open(opts(d));
    await a.subscribe(sub);
    const [x] = await a.enqueue([sub], 'k', '{"n":1}');
    const [y] = await a.enqueue([sub], 'k', '{"n":2}');
    const [z] = await a.enqueue([sub], 'k', '{"n":3}');
    await a.failed(x!.id, 1, 123, 'HTTP 503');
    await a.delivered(y!.id);
    await a.died(z!.id, 8, 'HTTP 500');
    await a.close();
    const b = await WebhookLog.open(opts(d));
    expect([...b.subscriptions.values()]).toEqual([sub]);
    expect([...b.pending.values()]).toEqual([expect.objectContaining({ id: x!.id, attempts: 1, nextAt: 123, lastError: 'HTTP 503' })]);
    expect([...b.dead.values()]).toEqual([expect.objectContaining({ id: z!.id, attempts: 8, state: 'dead' })]);
    const [w] = await b.enqueue([sub], 'k', '{}');
    expect(w!.id > z!.id).toBe(true);
    await b.unsubscribe(sub.id);
    expect(b.pending.size + b.dead.size).toBe(0);
    await b.close();
  });

  it('drops a record torn by a crash and refuses a corrupt one in the middle', async () => {
    const d = await dir();
    const a = await WebhookLog.open(opts(d));
    await a.subscribe(sub);
    await a.close();
    await appendFile(join(d, 'webhooks.jsonl'), '{"op":"enq","d":{"id":"msg_0000');
    const b = await WebhookLog.open(opts(d));
    expect(b.tornLines).toBe(1);
    expect(b.subscriptions.size).toBe(1);
    await b.close();
    expect((await readFile(join(d, 'webhooks.jsonl'), 'utf8')).endsWith('}\n')).toBe(true);
    await writeFile(join(d, 'webhooks.jsonl'), '{"op":"header","version":1,"nextSeq":1}\nnot json\n{"op":"done","id":"x"}\n');
    await expect(WebhookLog.open(opts(d))).rejects.toThrow(/line 2 is not a webhook log record/);
  });

  it('refuses to enqueue beyond maxPending with OVERLOADED, and keeps at most maxDead', async () => {
    const d = await dir();
    const log = await WebhookLog.open({ ...opts(d), maxPending: 2 });
    await log.subscribe(sub);
    const ds = [...(await log.enqueue([sub], 'k', '1')), ...(await log.enqueue([sub], 'k', '2'))];
    await expect(log.enqueue([sub], 'k', '3')).rejects.toMatchObject({ code: 'OVERLOADED' });
    for (const x of ds) await log.died(x.id, 1, 'e');
    const [third] = await log.enqueue([sub], 'k', '3');
    await log.died(third!.id, 1, 'e');
    expect(log.dead.size).toBe(2);
    expect(log.deadForgotten).toBe(1);
    await log.close();
  });

  it('compacts finished deliveries away and reopens to the same state', async () => {
    const d = await dir();
    const log = await WebhookLog.open(opts(d));
    await log.subscribe(sub);
    for (let i = 0; i < 700; i++) {
      const [x] = await log.enqueue([sub], `k${i}`, '{}');
      if (i < 699) await log.delivered(x!.id);
    }
    await log.close();
    const lines = (await readFile(join(d, 'webhooks.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.length).toBeLessThan(400);
    const again = await WebhookLog.open(opts(d));
    expect([...again.pending.values()].map((x) => x.key)).toEqual(['k699']);
    await again.close();
  });

  it('signs per Standard Webhooks', () => {
    const body = '{"a":1}';
    const ts = Math.floor(Date.now() / 1000);
    const headers = signatureHeaders(sub.secret, 'msg_1', ts, body);
    expect(new Webhook(sub.secret).verify(body, headers)).toEqual({ a: 1 });
    expect(() => new Webhook(sub.secret).verify('{"a":2}', headers)).toThrow();
  });
});
