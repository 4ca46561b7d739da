/**
 * Stream names on NATS: a durable route's stream name maps back to its route,
 * and nothing else does, so a gateway starting on NATS never mistakes the
 * shared dead-letter queue's streams for a durable route to serve.
 */
import { describe, expect, it } from 'vitest';
import { routeOfStream, streamName } from '../../src/durable/jetstream-queue.js';
import { deadLetterStreams } from '../../src/deadletter/jetstream-store.js';

describe('JetStream stream names', () => {
  it.each(['checkout.submit', 'a_b', 'DLQ', '_DLQ', 'x-y.z'])('route %s round-trips through its stream name', (route) => {
    expect(routeOfStream('SLUICE', streamName('SLUICE', route))).toBe(route);
  });

  it('the dead-letter streams, other prefixes and KV buckets are no route', () => {
    const { entries, claims } = deadLetterStreams('SLUICE');
    expect([entries, claims]).toEqual(['SLUICE__DLQ', 'SLUICE__DLQ_CLAIMS']);
    for (const name of [entries, claims, 'OTHER_checkout_2esubmit', 'KV_sluice-fleet', 'SLUICE_']) expect(routeOfStream('SLUICE', name)).toBeUndefined();
  });
});
