/**
 * The pipelined JetStream publisher on a real nats-server: a command is
 * stored and answered with its sequence, a repeated Nats-Msg-Id is a
 * duplicate, a subject without a stream fails UNAVAILABLE, and at the bound
 * of outstanding acknowledgements a publish is refused OVERLOADED while
 * those overdue fail UNAVAILABLE after the timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { JetStreamPublisher } from '../../src/durable/jetstream-publisher.js';
import { startJetStream, type JetStreamCluster } from '../../examples/bench/src/jetstream-cluster.js';

let nats: JetStreamCluster;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startJetStream(1);
  nc = await connect({ servers: nats.servers });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PUB', subjects: ['pub.test'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1 });
}, 60_000);
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const body = (s: string) => new TextEncoder().encode(s);

describe('JetStream publisher', () => {
  it('resolves once stored, with the sequence; a repeated message id is a duplicate of the first', async () => {
    const p = new JetStreamPublisher(nc, { timeoutMs: 10_000, maxPending: 100 });
    try {
      const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => p.publish('pub.test', body(`c${i}`))));
      expect(new Set(acks.map((a) => a.seq)).size).toBe(50);
      const first = await p.publish('pub.test', body('once'), 'key-1');
      const again = await p.publish('pub.test', body('once'), 'key-1');
      expect(first.duplicate).toBe(false);
      expect(again).toEqual({ seq: first.seq, duplicate: true });
      expect(p.outstanding).toBe(0);
    } finally {
      p.close();
    }
  });

  it('fails UNAVAILABLE when no stream takes the subject', async () => {
    const p = new JetStreamPublisher(nc, { timeoutMs: 10_000, maxPending: 100 });
    try {
      await expect(p.publish('pub.nowhere', body('x'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      p.close();
    }
  });

  it('refuses OVERLOADED beyond its bound of outstanding acknowledgements, and fails the overdue ones UNAVAILABLE', async () => {
    // A plain subscriber that never answers: the publishes wait for acknowledgements that never come.
    const silent = nc.subscribe('pub.silent');
    const p = new JetStreamPublisher(nc, { timeoutMs: 200, maxPending: 2 });
    try {
      const waiting = [p.publish('pub.silent', body('a')), p.publish('pub.silent', body('b'))];
      const settled = waiting.map((w) => w.then(() => 'stored', (e: { code: string }) => e.code));
      await expect(p.publish('pub.silent', body('c'))).rejects.toMatchObject({ code: 'OVERLOADED', details: { retryAfterMs: expect.any(Number) } });
      expect(await Promise.all(settled)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
      expect(p.outstanding).toBe(0);
      // Room again once they failed.
      expect((await p.publish('pub.test', body('d'))).seq).toBeGreaterThan(0);
    } finally {
      silent.unsubscribe();
      p.close();
    }
  });
});
