/**
 * Open interop over real sockets, with rsocket-js as the foreign peer (as a
 * Spring client with CBOR strategies would be): any data MIME type is
 * accepted at SETUP and forwarded untouched; the format reaches the service
 * as a per-stream MIME entry, which the service API honours; a request's own
 * per-stream entry is passed on as it is, and a malformed one refused.
 */
import { describe, expect, it } from 'vitest';
import { WellKnownMimeType, encodeCompositeMetadata } from 'rsocket-composite-metadata';
import { decode as cborDecode, encode as cborEncode } from 'cbor-x';
import { readStreamMime } from '../../src/protocol/stream-mime.js';
import { decodeComposite } from '../../src/protocol/metadata.js';
import type { RequestContext, StreamContext } from '../../src/service/handlers.js';
import { useHarness } from '../helpers/harness.js';
import { jsConnect, jsRequestResponse as rr, jsRoute as route } from '../helpers/rsocket-js.js';

const h = useHarness();

/** A service seeing what each request's format was, echoing CBOR as CBOR. */
const seen: { mime: string; bytes: boolean }[] = [];
const cborRoutes = {
  'cbor.echo': {
    requestResponse: (data: unknown, ctx: RequestContext) => {
      seen.push({ mime: ctx.dataMimeType, bytes: data instanceof Uint8Array });
      if (!(data instanceof Uint8Array)) return { json: data };
      const value = cborDecode(data) as Record<string, unknown>;
      return new Uint8Array(cborEncode({ ...value, seenAs: ctx.dataMimeType }));
    },
  },
  'cbor.raw': { requestResponse: (data: unknown) => data as Uint8Array },
  'cbor.count': {
    async *requestStream(data: unknown, _ctx: StreamContext) {
      const { n } = cborDecode(data as Uint8Array) as { n: number };
      for (let i = 0; i < n; i++) yield new Uint8Array(cborEncode({ i, tag: new Date(0) }));
    },
  },
};

describe('open interop', () => {
  it('accepts a CBOR client at SETUP; CBOR reaches the service as bytes with its MIME type and comes back as CBOR', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'cbor', routes: cborRoutes });
    const rs = await jsConnect(gw.url, { dataMimeType: 'application/cbor' });
    h.onCleanup(() => rs.close());
    seen.length = 0;
    const answer = await rr(rs, { data: Buffer.from(cborEncode({ qty: 3, when: new Date(1700000000000) })), metadata: route('cbor.echo') });
    expect(cborDecode(answer.data!)).toEqual({ qty: 3, when: new Date(1700000000000), seenAs: 'application/cbor' });
    expect(seen).toEqual([{ mime: 'application/cbor', bytes: true }]);

    // Untouched: the bytes the service gets are the bytes the client sent, not a re-encoding.
    const sent = Buffer.from(cborEncode({ blob: new Uint8Array([0, 255, 1, 254]), big: 2n ** 70n }));
    const raw = await rr(rs, { data: sent, metadata: route('cbor.raw') });
    expect(Buffer.compare(raw.data!, sent)).toBe(0);

    // A stream of CBOR items, with demand as usual.
    const items = await new Promise<unknown[]>((resolve, reject) => {
      const got: unknown[] = [];
      rs.requestStream({ data: Buffer.from(cborEncode({ n: 3 })), metadata: route('cbor.count') }, 3, {
        onNext: (p, done) => {
          got.push(cborDecode(p.data!));
          if (done) resolve(got);
        },
        onComplete: () => resolve(got),
        onError: reject,
        onExtension: () => {},
      });
    });
    expect(items).toEqual([0, 1, 2].map((i) => ({ i, tag: new Date(0) })));
  });

  it("honours a request's own per-stream MIME entry on a JSON connection and passes it on as it is", async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'cbor', routes: cborRoutes });
    const rs = await jsConnect(gw.url);
    h.onCleanup(() => rs.close());
    seen.length = 0;
    const cborId = Buffer.from([0x80 | WellKnownMimeType.APPLICATION_CBOR.identifier]);
    const answer = await rr(rs, { data: Buffer.from(cborEncode({ a: 1 })), metadata: route('cbor.echo', cborId) });
    expect(cborDecode(answer.data!)).toEqual({ a: 1, seenAs: 'application/cbor' });
    const json = await rr(rs, { data: Buffer.from('{"b":2}'), metadata: route('cbor.echo') });
    expect(JSON.parse(json.data!.toString())).toEqual({ json: { b: 2 } });
    expect(seen).toEqual([
      { mime: 'application/cbor', bytes: true },
      { mime: 'application/json', bytes: false },
    ]);
  });

  it('refuses a malformed per-stream MIME entry with INVALID_ARGUMENT, and only that request', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'cbor', routes: cborRoutes });
    const rs = await jsConnect(gw.url);
    h.onCleanup(() => rs.close());
    const bad = rr(rs, { data: Buffer.from('{}'), metadata: route('cbor.echo', Buffer.from([5, 0x61])) });
    await expect(bad).rejects.toThrow('INVALID_ARGUMENT: metadata: message/x.rsocket.mime-type.v0: length 6 does not match the 1 bytes that follow');
    const ok = await rr(rs, { data: Buffer.from('{"c":3}'), metadata: route('cbor.echo') });
    expect(JSON.parse(ok.data!.toString())).toEqual({ json: { c: 3 } });
  });

  it('tells a service whose SETUP declared CBOR that a JSON client’s request is JSON', async () => {
    const gw = await h.gateway();
    const mimes: string[] = [];
    const registration = Buffer.from(JSON.stringify({ service: 'foreign', instance: 'foreign-1', routes: ['foreign.mime'] }));
    const rs = await jsConnect(gw.url, {
      dataMimeType: 'application/cbor',
      setupMetadata: encodeCompositeMetadata([['application/x.sluice.registration+json', registration]]),
      responder: {
        requestResponse(payload, responder) {
          mimes.push(readStreamMime(decodeComposite(payload.metadata!), 'application/cbor'));
          responder.onNext({ data: payload.data! }, true);
          return { cancel() {}, onExtension() {} };
        },
      },
    });
    h.onCleanup(() => rs.close());
    for (let i = 0; i < 200 && !gw.registry.has('foreign.mime'); i++) await new Promise((r) => setTimeout(r, 10));
    const client = await h.client(gw.url);
    expect(await client.requestResponse('foreign.mime', { hi: 1 })).toEqual({ hi: 1 });
    expect(mimes).toEqual(['application/json']);
  });
});
