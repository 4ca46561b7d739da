/**
 * The client API (SluiceClient) over an in-memory connection to a scripted
 * responder: abort signals cancel every kind of interaction and leave no
 * listener behind, and channel input that cannot travel ends the channel
 * instead of escaping into the process.
 */
import { getEventListeners } from 'node:events';
import { Subject, of, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { SluiceClient } from '../../src/client/client.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { Connection, type Responder } from '../../src/rsocket/connection.js';
import { ServerConnection } from '../../src/rsocket/server-connection.js';
import type { InteractionModel, Stream, StreamHandler } from '../../src/rsocket/stream.js';
import type { Payload } from '../../src/protocol/frames.js';
import { events, type Events } from '../helpers/memory-gateway.js';
import { memoryPair, settle } from '../helpers/memory-transport.js';
import { trackEscapes } from '../helpers/escapes.js';

const MIME = { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON };
const u8 = (s: string) => new TextEncoder().encode(s);

interface Served {
  model: InteractionModel;
  stream: Stream;
  handler: Events;
}

/** Errors that escaped to the process while a test ran. */
const { escaped, cleanups } = trackEscapes();

/** A client over a connection to a responder that records every request; `act` may answer it. */
async function clientTo(act?: (s: Served) => void) {
  const served: Served[] = [];
  const serve = (model: InteractionModel, stream: Stream): StreamHandler => {
    const s = { model, stream, handler: events() };
    served.push(s);
    act?.(s);
    return s.handler;
  };
  const responder: Responder = {
    fireAndForget: () => {},
    requestResponse: (_p, s) => serve('response', s),
    requestStream: (_p, s) => serve('stream', s),
    requestChannel: (_p, _c, s) => serve('channel', s),
  };
  const [ct, st] = memoryPair();
  const server = ServerConnection.accept(st, { accept: () => responder });
  const conn = Connection.connect(ct, MIME, responder);
  cleanups.push(() => {
    conn.close();
    server.close();
  });
  await settle();
  return { client: new SluiceClient({ current: conn }), served };
}

function collect<T>(o: Observable<T>) {
  const got: { items: T[]; error?: { code?: string }; complete: boolean } = { items: [], complete: false };
  const sub = o.subscribe({ next: (v) => got.items.push(v), error: (e: { code?: string }) => (got.error = e), complete: () => (got.complete = true) });
  return { got, sub };
}

const item = (v: unknown): Payload => ({ data: u8(JSON.stringify(v)), metadata: null });

describe('abort signals', () => {
  it('aborting a request-response cancels it at the responder, fails it with CANCELED and removes the listener', async () => {
    const { client, served } = await clientTo();
    const controller = new AbortController();
    const call = client.requestResponse('svc.op', { a: 1 }, { signal: controller.signal }).catch((e: { code?: string }) => e);
    await settle();
    expect(served).toHaveLength(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    expect(await call).toMatchObject({ code: 'CANCELED' });
    await settle();
    expect(served[0]!.handler.events).toEqual(['cancel']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('an answered request-response resolves with its data and removes its abort listener; an aborted signal fails it at once', async () => {
    const { client, served } = await clientTo((s) => s.stream.next(item({ ok: true }), true));
    const controller = new AbortController();
    expect(await client.requestResponse('svc.op', {}, { signal: controller.signal })).toEqual({ ok: true });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await expect(client.requestResponse('svc.op', {}, { signal: controller.signal })).rejects.toMatchObject({ code: 'CANCELED' });
    expect(served).toHaveLength(2);
  });

  it('aborting a channel cancels it at the responder and errors the output with CANCELED', async () => {
    const { client, served } = await clientTo();
    const controller = new AbortController();
    // The channel opens with its first input item.
    const input = new Subject<number>();
    const { got } = collect(client.requestChannel('svc.chan', input, { signal: controller.signal }));
    input.next(1);
    await settle();
    expect(served).toHaveLength(1);
    controller.abort();
    await settle();
    expect(got.error?.code).toBe('CANCELED');
    expect(served[0]!.handler.events).toEqual(['cancel']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('an iterated stream removes its abort listener when it ends', async () => {
    const { client, served } = await clientTo();
    const controller = new AbortController();
    const it = client.iterateStream('svc.stream', {}, { signal: controller.signal, prefetch: 1 });
    const first = it.next();
    await settle();
    served[0]!.stream.next(item(1), true);
    expect(await first).toEqual({ value: 1, done: false });
    expect(await it.next()).toEqual({ value: undefined, done: true });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('aborting an iterated stream while the consumer awaits an item ends the iteration and cancels the stream', async () => {
    const { client, served } = await clientTo();
    const controller = new AbortController();
    const it = client.iterateStream('svc.stream', {}, { signal: controller.signal });
    const waiting = it.next();
    await settle();
    controller.abort();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
    await settle();
    expect(served[0]!.handler.events).toEqual(['cancel']);
  });

  it('a signal that is already aborted cancels a stream at once', async () => {
    const { client, served } = await clientTo();
    const controller = new AbortController();
    controller.abort();
    const { got } = collect(client.requestStream('svc.stream', {}, { signal: controller.signal }));
    const iterated = client.iterateStream('svc.stream', {}, { signal: controller.signal });
    await settle();
    expect(got.error?.code).toBe('CANCELED');
    await expect(iterated.next()).resolves.toEqual({ value: undefined, done: true });
    // Whatever was opened is cancelled: nothing is left streaming.
    for (const s of served) expect(s.stream.closed).toBe(true);
  });
});

describe('channel input that cannot be encoded', () => {
  it('an Observable input item ends the channel with INTERNAL', async () => {
    const { client, served } = await clientTo((s) => s.stream.request(10));
    const { got } = collect(client.requestChannel('svc.chan', of(1, 2n, 3) as Observable<unknown>));
    await settle();
    await new Promise((r) => setTimeout(r, 0));
    await settle();
    expect(escaped).toEqual([]);
    expect(got.error?.code).toBe('INTERNAL');
    expect(served[0]!.handler.events).toEqual(['error:INTERNAL']);
  });

  it('an item that arrives with the responder’s demand ends the channel with INTERNAL', async () => {
    const { client, served } = await clientTo();
    const input = new Subject<unknown>();
    const { got } = collect(client.requestChannel('svc.chan', input));
    input.next(1);
    input.next(2n);
    await settle();
    // The second item waits for demand; it is encoded when the grant arrives (inside the frame handler).
    served[0]!.stream.request(1);
    await settle();
    await new Promise((r) => setTimeout(r, 0));
    await settle();
    expect(escaped).toEqual([]);
    expect(got.error?.code).toBe('INTERNAL');
    expect(served[0]!.handler.events).toEqual(['error:INTERNAL']);
  });
});
