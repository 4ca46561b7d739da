/**
 * Conformance: rsocket-js 1.0 (an independent RSocket implementation, no
 * Sluice code) uses the gateway's public routes, and registers as a service
 * that Sluice clients call.
 */
import { describe, expect, it } from 'vitest';
import type { Payload as JsPayload } from 'rsocket-core';
import { encodeCompositeMetadata } from 'rsocket-composite-metadata';
import { useHarness } from '../helpers/harness.js';
import { jsConnect, jsRequestResponse, jsRoute as route } from '../helpers/rsocket-js.js';

const h = useHarness();

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const parse = (p: JsPayload) => JSON.parse(p.data!.toString('utf8'));

describe('rsocket-js against the gateway', () => {
  it('request-response on bench.echo', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const rs = await jsConnect(gw.url);
    h.onCleanup(() => rs.close());
    const answer = parse(await jsRequestResponse(rs, { data: json({ from: 'rsocket-js' }), metadata: route('bench.echo') }));
    expect(answer).toEqual({ from: 'rsocket-js' });
  });

  it('request-stream with explicit request(n) and cancel, checked against the producer', async () => {
    // Demand passed through unchanged (no prefetch), so the producer's counts equal the requester's.
    const gw = await h.gateway({ flow: { prefetch: 0 } });
    await h.service({ url: gw.url, service: 'bench' });
    const rs = await jsConnect(gw.url);
    h.onCleanup(() => rs.close());
    const items: Array<{ seq: number; requested: number }> = [];
    let onItem: () => void = () => {};
    const sub = rs.requestStream({ data: json({ id: 'js-stream' }), metadata: route('bench.source') }, 2, {
      onNext: (p) => {
        items.push(parse(p));
        onItem();
      },
      onError: () => {},
      onComplete: () => {},
      onExtension: () => {},
    });
    const waitFor = (n: number) => new Promise<void>((resolve) => ((onItem = () => items.length >= n && resolve()), onItem()));
    await waitFor(2);
    sub.request(3);
    await waitFor(5);
    expect(items.map((i) => i.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(items[4]!.requested).toBe(5);
    sub.cancel();
    const stats = await new Promise<any>((resolve, reject) =>
      rs.requestResponse({ data: json({ id: 'js-stream' }), metadata: route('bench.stats') }, { onNext: (p) => resolve(parse(p)), onError: reject, onComplete: () => {}, onExtension: () => {} }),
    );
    expect(stats).toEqual({ emitted: 5, requested: 5, cancelled: true, completed: false });
  });

  it('request-channel on bench.sink', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const rs = await jsConnect(gw.url);
    h.onCleanup(() => rs.close());
    const acks: number[] = [];
    let sent = 0;
    const total = 5;
    await new Promise<void>((resolve, reject) => {
      const channel = rs.requestChannel({ data: json({ delayMs: 1 }), metadata: route('bench.sink') }, 10, false, {
        onNext: (p) => {
          acks.push(parse(p).seq);
          if (acks.length === total) resolve();
        },
        onError: reject,
        onComplete: () => {},
        onExtension: () => {},
        // The sink grants input one item at a time.
        request: (n) => {
          for (let i = 0; i < n && sent < total; i++) channel.onNext({ data: json({ item: sent++ }) }, sent === total);
        },
        cancel: () => {},
      });
    });
    expect(acks).toEqual([0, 1, 2, 3, 4]);
  });

  it('an rsocket-js responder registers through SETUP metadata and serves Sluice clients', async () => {
    const gw = await h.gateway();
    const registration = json({ service: 'foreign', instance: 'foreign-1', routes: ['foreign.upper'] });
    const rs = await jsConnect(gw.url, {
      setupMetadata: encodeCompositeMetadata([['application/x.sluice.registration+json', registration]]),
      responder: {
        requestResponse(payload, responder) {
          const text = String(parse(payload));
          responder.onNext({ data: json(text.toUpperCase()) }, true);
          return { cancel() {}, onExtension() {} };
        },
      },
    });
    h.onCleanup(() => rs.close());
    await new Promise<void>((resolve) => {
      const check = () => (gw.registry.has('foreign.upper') ? resolve() : setImmediate(check));
      check();
    });
    const client = await h.client(gw.url);
    expect(await client.requestResponse('foreign.upper', 'sluice')).toBe('SLUICE');
  });
});
