/**
 * The broker without sockets: the SETUP checks the gateway makes (MIME
 * types, the route cap, instance replacement) and its in-process loopback,
 * on in-memory transports.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker, type Broker } from '../../src/broker/broker.js';
import { resolveGatewayConfig, type GatewayOptions } from '../../src/config.js';
import type { SluiceError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/log.js';
import { MimeTypes, encodeComposite, type MetadataEntry } from '../../src/protocol/metadata.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import { Connection, refusingResponder } from '../../src/rsocket/connection.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { events, request } from '../helpers/memory-gateway.js';
import { memoryPair, settle } from '../helpers/memory-transport.js';

const brokers: Broker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
});

function broker(options: GatewayOptions = {}, localRoutes?: RouteTable): Broker {
  const b = createBroker(resolveGatewayConfig(options), { log: silentLogger, defaultMetrics: false, ...(localRoutes ? { localRoutes } : {}) });
  brokers.push(b);
  return b;
}

/** Connects a client-role connection to `b`; resolves with the error it was closed with, if it is closed at SETUP. */
function connect(b: Broker, setup: { metadata?: MetadataEntry[]; dataMimeType?: string }) {
  const [clientEnd, serverEnd] = memoryPair();
  b.accept(serverEnd);
  const conn = Connection.connect(
    clientEnd,
    { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: setup.dataMimeType ?? MimeTypes.JSON, metadata: setup.metadata ? encodeComposite(setup.metadata) : null },
    refusingResponder,
  );
  let closedWith: SluiceError | undefined | null = null;
  conn.onClose((e) => (closedWith = e));
  return { conn, closedWith: () => closedWith };
}

describe('createBroker: SETUP checks without sockets', () => {
  it('accepts any data MIME type (data is forwarded untouched) and refuses one that is not type/subtype with UNSUPPORTED_SETUP', async () => {
    const b = broker();
    const cbor = connect(b, { dataMimeType: 'application/cbor' });
    await settle();
    expect(cbor.closedWith()).toBeNull();
    const c = connect(b, { dataMimeType: 'plain' });
    await settle();
    expect(c.closedWith()?.code).toBe('UNSUPPORTED_SETUP');
    expect(b.connections.size).toBe(1);
  });

  it('refuses a registration that would take the gateway past limits.maxRoutes with REJECTED_SETUP', async () => {
    const b = broker({ limits: { maxRoutes: 2 } });
    const first = connect(b, { metadata: [registrationEntry({ service: 'a', instance: 'a-1', routes: ['a.one', 'a.two'] })] });
    await settle();
    expect(first.closedWith()).toBeNull();
    const second = connect(b, { metadata: [registrationEntry({ service: 'b', instance: 'b-1', routes: ['b.one'] })] });
    await settle();
    expect(second.closedWith()?.code).toBe('REJECTED_SETUP');
    expect(b.registry.routes().sort()).toEqual(['a.one', 'a.two']);
  });

  it('a registration of a live instance id by the same owner is refused while the holder answers pings', async () => {
    const b = broker({ auth: { probeTimeoutMs: 1_000 } });
    const reg = registrationEntry({ service: 'a', instance: 'a-1', routes: ['a.one'] });
    const holder = connect(b, { metadata: [reg] });
    await settle();
    const second = connect(b, { metadata: [reg] });
    for (let i = 0; i < 50 && second.closedWith() === null; i++) await settle();
    expect(second.closedWith()?.code).toBe('REJECTED_SETUP');
    expect(holder.closedWith()).toBeNull();
    expect(b.registry.instances().map((i) => i.connection.isOpen)).toEqual([true]);
  });
});

describe('createBroker: the loopback', () => {
  it('enters through the front door in process: a local route answers, and the connection is one of the broker\'s', async () => {
    const b = broker({}, { 'echo.op': { requestResponse: (d: unknown) => ({ echoed: d }) } });
    const conn = await b.loopback();
    const got = events();
    conn.requestResponse(request('echo.op', 7), got);
    for (let i = 0; i < 50 && got.events.length === 0; i++) await settle();
    expect(got.events).toEqual(['next:{"echoed":7}', 'complete']);
    expect(b.connections.size).toBe(1);
    expect(await b.loopback()).toBe(conn); // reused while open
    await b.close();
    for (let i = 0; i < 50 && b.connections.size > 0; i++) await settle();
    expect(b.connections.size).toBe(0);
  });
});
