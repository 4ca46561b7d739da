/**
 * The demo as `npm start` runs it (real processes, auth on) delivers order
 * events to webhooks: the operator subscribes an endpoint to
 * `orders.events`, an anonymous caller may not, and a placed order's events
 * reach a real HTTP server that fails the first attempts, each verified with
 * the `standardwebhooks` package, in `seq` order.
 */
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { connect } from '../../../../clients/node/index.js';
import { eventually } from '../../../../test/helpers/harness.js';
import { spawnGroup, stopProcessGroup } from '../../../../test/helpers/process-group.js';
import { OPERATOR_TOKEN_FILE } from '../../../../src/cli/cli-token.js';
import { CHECKOUT } from '../../src/supervisor.js';
import { DEMO_ORDER_EVENTS_TOPIC } from '../../src/cli/demo-command.js';

interface Received {
  readonly id: string;
  readonly verified: boolean;
  readonly data: { orderId: string; seq: number; type: string };
}

describe('sluice demo webhooks', () => {
  it('delivers every event of an order to an endpoint the operator subscribed, signed, retried and in order', async () => {
    let secret = '';
    let refusals = 2;
    const received: Received[] = [];
    const attempts: string[] = [];
    const hooks = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const id = String(req.headers['webhook-id']);
        attempts.push(id);
        // The first attempts fail: those deliveries must come again with the same webhook-id.
        if (refusals > 0) {
          refusals--;
          res.writeHead(503).end();
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        let verified = true;
        try {
          new Webhook(secret).verify(raw, Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])));
        } catch {
          verified = false;
        }
        received.push({ id, verified, data: (JSON.parse(raw) as { data: Received['data'] }).data });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/orders`;

    const cwd = new URL('../../../..', import.meta.url).pathname;
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-demo-hooks-'));
    const demo = spawnGroup(process.execPath, [...CHECKOUT, 'demo', '--port', '0', '--admin-port', '0', '--data-dir', dataDir], {
      cwd,
      env: { ...process.env, SLUICE_TOKEN: '', SLUICE_TOKEN_FILE: '', SLUICE_ORDER_WEBHOOK_TOPIC: '' },
    });
    const { proc, exited } = demo;
    try {
      await demo.waitFor(/Ctrl-C stops everything/);
      const out = demo.output();
      const url = /gateway\s+(ws:\/\/\S+)/.exec(out)![1]!;
      expect(out).toContain(`webhooks.subscribe '{"topic":"${DEMO_ORDER_EVENTS_TOPIC}"`);

      // Anonymous callers may place orders but not subscribe to their events.
      const anonymous = await connect({ url });
      await expect(anonymous.requestResponse('webhooks.subscribe', { topic: DEMO_ORDER_EVENTS_TOPIC, url: hookUrl })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });

      const operator = await connect({ url, token: (await readFile(join(dataDir, OPERATOR_TOKEN_FILE), 'utf8')).trim() });
      const sub = await operator.requestResponse<{ id: string; secret: string }>('webhooks.subscribe', { topic: DEMO_ORDER_EVENTS_TOPIC, url: hookUrl });
      secret = sub.secret;

      const placed = await anonymous.requestResponse<{ orderId: string }>('checkout.place', { idempotencyKey: `demo-hooks-${process.pid}`, customerId: 'c-1', items: [{ sku: 'A1', qty: 1 }] });
      const events: { type: string; seq: number }[] = [];
      for await (const e of anonymous.iterateStream<{ type: string; seq: number }>('orders.watch', { orderId: placed.orderId })) events.push(e);
      expect(events.at(-1)?.type).toBe('OrderConfirmed');

      const mine = () => received.filter((r) => r.data.orderId === placed.orderId);
      await eventually(() => mine().length >= events.length, 'every event delivered', 600, 50);
      expect(mine().map((r) => r.data.seq)).toEqual(events.map((e) => e.seq));
      expect(mine().map((r) => r.data.type)).toEqual(events.map((e) => e.type));
      expect(mine().every((r) => r.verified)).toBe(true);
      // The refused attempts were retried: their webhook-ids arrived again and were delivered once each.
      const refused = attempts.slice(0, 2);
      for (const id of refused) expect(mine().filter((r) => r.id === id)).toHaveLength(1);
      expect(new Set(mine().map((r) => r.id)).size).toBe(mine().length);

      anonymous.close();
      operator.close();
      process.kill(-proc.pid!, 'SIGINT');
      expect(await exited).toBe(0);
    } finally {
      await stopProcessGroup(proc.pid!);
      hooks.closeAllConnections();
      hooks.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 360_000);
});
