/**
 * The client API (SluiceClient) over an in-memory connection to a scripted
 * responder: abort signals cancel every kind of interaction and leave no
 * listener behind, and channel input that cannot travel ends the channel
 * instead of escaping into the process.
 */
import { Subject, of, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SluiceClient } from '../../clients/core/client.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { Connection, type Responder } from '../../src/rsocket/connection.js';
import type { InteractionModel, Stream, StreamHandler } from '../../src/rsocket/stream.js';
import { events, type Events } from '../helpers/memory-gateway.js';
import { memoryPair, settle } from '../helpers/memory-transport.js';

const MIME = { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON };

interface Served {
  model: InteractionModel;
  stream: Stream;
  handler: Events;
}

let escaped: unknown[] = [];
const onEscape = (err: unknown) => void escaped.push(err);
const cleanups: Array<() => void> = [];
beforeEach(() => {
  escaped = [];
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
afterEach(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
  for (const c of cleanups.splice(0)) c();
});

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
  const server = Connection.accept(st, { accept: () => responder });
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
