/**
 * The forwarding path (Forwarder + Forwarding) on in-memory transports:
 * requester and service are bare connections the test drives frame by frame,
 * so each test can put the interaction exactly in the phase it is about
 * (bulkhead wait, retry backoff, open upstream) and check what every side
 * saw, and that nothing is left behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { events, memoryGateway, request } from '../helpers/memory-gateway.js';
import { settle } from '../helpers/memory-transport.js';

const gateways: Array<ReturnType<typeof memoryGateway>> = [];
afterEach(() => {
  for (const g of gateways.splice(0)) g.close();
});

function gateway(options: Parameters<typeof memoryGateway>[0] = {}) {
  const g = memoryGateway(options);
  gateways.push(g);
  return g;
}

const nothingLeft = { live: 0, instanceActive: 0, routeActive: 0, bulkheadActive: 0, bulkheadQueued: 0 };

describe('channel input during the bulkhead wait', () => {
  it('a requester that completes its input while waiting for a slot has it completed upstream', async () => {
    const g = gateway({ policies: { routes: { 'svc.chan': { bulkhead: { maxConcurrent: 1, maxQueue: 1, maxWaitMs: 60_000 } } } } });
    const svc = g.service('svc', 'svc-1', ['svc.chan']);
    const req = g.requester();
    await settle();

    // The first channel takes the route's only slot.
    const first = events();
    const a = req.connection.requestChannel(request('svc.chan', 'a'), 1, false, first);
    await settle();
    expect(svc.served).toHaveLength(1);

    // The second waits for it, and its requester ends its input meanwhile.
    const second = events();
    const b = req.connection.requestChannel(request('svc.chan', 'b'), 1, false, second);
    await settle();
    expect(svc.served).toHaveLength(1);
    b.complete();
    await settle();

    // The first channel ends both ways: the slot goes to the second.
    a.complete();
    svc.served[0]!.stream.complete();
    await settle();
    expect(first.events).toEqual(['complete']);
    expect(svc.served).toHaveLength(2);
    const upstream = svc.served[1]!;
    // The service must learn that the input is over, or it waits for it forever.
    expect(upstream.complete || upstream.handler.events.includes('complete')).toBe(true);

    upstream.stream.complete();
    await settle();
    expect(second.events).toEqual(['complete']);
    expect(g.leftovers()).toEqual(nothingLeft);
  });
});
