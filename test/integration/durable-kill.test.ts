/**
 * The gateway killed -9 right after acknowledging durable commands (embedded
 * backend, a real gateway process): its restart on the same directory
 * delivers every acknowledged command. (The order service's outage on a
 * durable `checkout.submit` is examples/checkout/test/integration/checkout-durable.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../clients/node/index.js';
import { startChild, type Child } from '../../examples/checkout/src/supervisor.js';
import { eventually, useHarness } from '../helpers/harness.js';

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
});

