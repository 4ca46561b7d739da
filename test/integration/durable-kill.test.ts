/**
 * The gateway killed -9 right after acknowledging durable commands (embedded
 * backend, a real gateway process): its restart on the same directory
 * delivers every acknowledged command; and a command's delivery count
 * survives the kill, so `maxDeliveries` holds across restarts. (The order service's outage on a
 * durable `checkout.submit` is examples/checkout/test/integration/checkout-durable.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../clients/node/index.js';
import { startChild, type Child } from '../../examples/checkout/src/supervisor.js';
import { SluiceError } from '../../src/errors.js';
import { eventually, metricValue, useHarness } from '../helpers/harness.js';

const h = useHarness();
describe('durable routes: the gateway killed (embedded backend)', () => {
  it('gateway killed -9 right after acknowledging: its restart on the same directory delivers every acknowledged command', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-durable-gw-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const args = ['gateway', '--port', '0', '--admin-port', '0', '--durable-dir', join(dir, 'durable'), '--dead-letter-dir', join(dir, 'dlq'), '--policy', 'jobs.do:durable={"enabled":true,"delivery":"response"}'];
    const startGateway = async (): Promise<{ child: Child; url: string }> => {
      const child = startChild({ name: 'gateway', args, env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
      h.onCleanup(() => child.stop(2_000));
      const { url } = await child.message<{ url: string }>('listening', 30_000);
      return { child, url };
    };

    const first = await startGateway();
    const client = await connect({ url: first.url });
    const acked: number[] = [];
    // Acknowledged commands, then a kill with more being sent: only the acknowledged ones are promised.
    const sends = Array.from({ length: 300 }, (_, i) => client.requestResponse<{ id: string }>('jobs.do', { n: i }).then(() => void acked.push(i), () => undefined));
    await Promise.race([Promise.all(sends), eventually(() => acked.length >= 200, '200 acks', 400, 10)]);
    const gone = new Promise<void>((r) => first.child.process.once('exit', () => r()));
    first.child.process.kill('SIGKILL');
    await gone;
    client.close();
    const promised = [...acked];
    expect(promised.length).toBeGreaterThanOrEqual(200);

    // The lock of the killed process is stale: the restart takes the directory over.
    const second = await startGateway();
    const seen = new Set<number>();
    await h.service({ url: second.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.do': { requestResponse: (d: { n: number }) => (seen.add(d.n), {}) } } });
    await eventually(() => promised.every((n) => seen.has(n)), 'every acknowledged command delivered after the restart', 400, 25);
  }, 120_000);

  it('a command delivered while the gateway is killed -9 keeps its delivery count: never delivered more than maxDeliveries times', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-durable-count-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const policy = 'jobs.poison:durable={"enabled":true,"delivery":"response","maxDeliveries":3,"backoffInitialMs":10,"backoffMaxMs":20}';
    const args = ['gateway', '--port', '0', '--admin-port', '0', '--durable-dir', join(dir, 'durable'), '--dead-letter-dir', join(dir, 'dlq'), '--policy', policy];
    const startGateway = async (): Promise<{ child: Child; url: string; adminUrl: string }> => {
      const child = startChild({ name: 'gateway', args, env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
      h.onCleanup(() => child.stop(2_000));
      const { url, adminUrl } = await child.message<{ url: string; adminUrl: string }>('listening', 30_000);
      return { child, url, adminUrl };
    };
    const kill = async (child: Child) => {
      const gone = new Promise<void>((r) => child.process.once('exit', () => r()));
      child.process.kill('SIGKILL');
      await gone;
    };
    // Every delivery is seen here; the first fails, the others hang (a gateway crash mid-delivery).
    let deliveries = 0;
    const serve = (url: string) =>
      h.service({
        url,
        service: 'jobs',
        instance: `jobs-${deliveries}`,
        routes: {
          'jobs.poison': {
            requestResponse: () => {
              deliveries++;
              if (deliveries === 1) throw new SluiceError('INTERNAL', 'poison');
              return new Promise(() => {});
            },
          },
        },
      });

    const first = await startGateway();
    const client = await connect({ url: first.url });
    await client.requestResponse('jobs.poison', { n: 1 });
    client.close();
    await serve(first.url);
    await eventually(() => deliveries === 2, 'second delivery', 400, 25);
    await kill(first.child);

    // The restart resumes the count: this is the third and last delivery, not a first one.
    const second = await startGateway();
    await serve(second.url);
    await eventually(() => deliveries === 3, 'third delivery after the restart', 400, 25);
    await kill(second.child);

    // Delivered maxDeliveries times with no verdict: dead-lettered at once, not delivered a fourth time.
    const third = await startGateway();
    await serve(third.url);
    await eventually(
      async () => metricValue(await (await fetch(`${third.adminUrl}/metrics`)).text(), 'sluice_durable_dead_lettered_total', { route: 'jobs.poison' }) === 1,
      'dead-lettered after the second restart',
      400,
      25,
    );
    expect(deliveries).toBe(3);
  }, 180_000);
});
