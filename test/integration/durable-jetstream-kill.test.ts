/**
 * A durable route on NATS JetStream (a real 3-node cluster on loopback,
 * streams with 3 replicas): the node leading the route's stream killed -9
 * under load while commands keep being accepted and delivered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startJetStream, type JetStreamCluster } from '../../examples/bench/src/jetstream-cluster.js';
import { streamName } from '../../src/durable/jetstream-queue.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventually, useHarness } from '../helpers/harness.js';

const h = useHarness();
/** A 3-node cluster of the test's own: a node one test kills is not missing from the next. */
async function freshCluster(): Promise<JetStreamCluster> {
  const cluster = await startJetStream(3);
  h.onCleanup(() => cluster.stop());
  return cluster;
}

describe('durable kill tests (NATS JetStream, 3 nodes)', () => {
  it('the NATS node leading the route stream killed -9 under load: commands keep being accepted, and every acknowledged one is delivered', async () => {
    const cluster = await freshCluster();
    const dir = await mkdtemp(join(tmpdir(), 'sluice-js-kill-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const gw = await h.gateway({
      nats: { servers: cluster.servers, replicas: 3, streamPrefix: 'NODEKILL' },
      deadLetter: { dir },
      policies: { defaults: {}, routes: { 'jobs.do': { durable: { enabled: true, delivery: 'response' } } } },
    });
    const seen = new Set<number>();
    await h.service({ url: gw.url, service: 'jobs', instance: 'jobs-1', routes: { 'jobs.do': { requestResponse: (d: { n: number }) => (seen.add(d.n), {}) } } });
    const client = await h.client(gw.url);
    const acked: number[] = [];
    let next = 0;
    /** Sends `count` commands, each retried until acknowledged, for up to 30 s (a publish while the stream elects a new leader fails UNAVAILABLE). */
    const send = async (count: number) => {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const n = next++;
          for (let attempt = 0; attempt < 300; attempt++) {
            try {
              await client.requestResponse('jobs.do', { n });
              acked.push(n);
              return;
            } catch {
              await new Promise((r) => setTimeout(r, 100));
            }
          }
          throw new Error(`command ${n} never acknowledged`);
        }),
      );
    };
    await send(100);
    // The hardest node to lose: the one leading the route's stream.
    const nc = await connect({ servers: cluster.servers });
    const info = await (await jetstreamManager(nc)).streams.info(streamName('NODEKILL', 'jobs.do'));
    await nc.close();
    const leader = cluster.nodes.find((n) => n.name === info.cluster?.leader);
    expect(leader).toBeDefined();
    await leader!.kill();
    await send(200);
    expect(acked).toHaveLength(300);
    await eventually(() => acked.every((n) => seen.has(n)), 'every acknowledged command delivered', 600, 50);
  }, 120_000);
});
