/**
 * Registration protection through real sockets, replaying the hijack of a
 * payment instance: a peer without a token, with a token for another service,
 * with a forged token or as another principal can neither take over
 * payment/payment-1 nor add an instance of `order`, and the real services
 * answer every call meanwhile. The same principal takes an instance id over
 * only from a connection that no longer answers (half-open), never from a
 * live one.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SluiceError } from '../../src/errors.js';
import { decodeFrame, encodeSetup } from '../../src/protocol/codec.js';
import { FrameType } from '../../src/protocol/frames.js';
import { MimeTypes, encodeComposite } from '../../src/protocol/metadata.js';
import { registrationEntry } from '../../src/protocol/registration.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { eventually, useHarness } from '../helpers/harness.js';
import { mint, secretFile, tokenService, withToken } from '../helpers/auth.js';

const h = useHarness();

const paymentRoutes = (by: string): RouteTable => ({
  'payment.authorize': { idempotent: true, requestResponse: (d: { orderId: string }) => ({ status: 'AUTHORIZED', orderId: d.orderId, by }) },
});
const orderRoutes = (by: string): RouteTable => ({
  'checkout.place': { requestResponse: (d: { key: string }) => ({ orderId: `ord-${d.key}`, by }) },
});

async function refusal(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(
    () => new Error('registered'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe('registration protection', () => {
  it('an attacker cannot register as payment/payment-1 nor add an order instance; the real services answer every call', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h), anonymous: { call: ['checkout.place'] } } });
    const paymentToken = await mint('payment', { service: 'payment', register: ['payment.*'] });
    await tokenService(h, gw.url, paymentToken, 'payment', 'payment-1', paymentRoutes('real'));
    await tokenService(h, gw.url, await mint('order', { service: 'order', register: ['checkout.*'] }), 'order', 'order-1', orderRoutes('real'));
    const realPayment = gw.registry.get('payment', 'payment-1')!.connection;
    const client = await h.client(gw.url, { setupMetadata: withToken(await mint('saga', { call: ['payment.authorize', 'checkout.place'] })) });

    // Every attempt starts at once (the calls below run while they are refused); each refusal is
    // read in turn, so a handler is attached at once: one may be refused before the line that reads it.
    const started = (p: Promise<unknown>): Promise<unknown> => {
      p.catch(() => {});
      return p;
    };
    const attempts: Array<[string, Promise<unknown>, string, RegExp]> = [
      ['no token', started(tokenService(h, gw.url, undefined, 'payment', 'payment-1', paymentRoutes('evil'))), 'REJECTED_SETUP', /^registration: anonymous connections may not register services/],
      [
        'a token for another service',
        started(tokenService(h, gw.url, await mint('attacker', { service: 'attacker', register: ['*'], call: ['*'] }), 'payment', 'payment-1', paymentRoutes('evil'))),
        'REJECTED_SETUP',
        /^registration: service 'payment' is not granted to sub:attacker \(its grant names 'attacker'\)$/,
      ],
      [
        'a forged token',
        started(tokenService(h, gw.url, await mint('payment', { service: 'payment', register: ['*'] }, { secret: 'guessed-secret-guessed-secret-guessed' }), 'payment', 'payment-1', paymentRoutes('evil'))),
        'UNAUTHENTICATED',
        /^token has a bad signature$/,
      ],
      [
        'another principal granted the same service',
        started(tokenService(h, gw.url, await mint('payment-rogue', { service: 'payment', register: ['payment.*'] }), 'payment', 'payment-1', paymentRoutes('evil'))),
        'REJECTED_SETUP',
        /^instance id payment\/payment-1 is held by another principal$/,
      ],
      [
        'a route outside the grant',
        started(tokenService(h, gw.url, await mint('payment', { service: 'payment', register: ['payment.authorize'] }), 'payment', 'payment-2', { ...paymentRoutes('evil'), 'payment.refund': { requestResponse: () => ({}) } })),
        'REJECTED_SETUP',
        /^registration: route 'payment.refund' is not granted to sub:payment for registration$/,
      ],
      ['a new order instance without a token', started(tokenService(h, gw.url, undefined, 'order', 'order-evil', orderRoutes('evil'))), 'REJECTED_SETUP', /^registration: anonymous connections/],
      [
        'a new order instance with a payment token',
        started(tokenService(h, gw.url, paymentToken, 'order', 'order-evil', orderRoutes('evil'))),
        'REJECTED_SETUP',
        /^registration: service 'order' is not granted to sub:payment/,
      ],
    ];
    const answers: string[] = [];
    const calls = Array.from({ length: 20 }, async (_, i) => {
      const [paid, placed] = await Promise.all([
        client.requestResponse<{ by: string }>('payment.authorize', { orderId: `o${i}` }),
        client.requestResponse<{ by: string }>('checkout.place', { key: `k${i}` }),
      ]);
      answers.push(paid.by, placed.by);
    });
    for (const [what, attempt, code, message] of attempts) {
      const err = await refusal(attempt);
      expect({ what, code: err.code, wire: err.wireCode }).toEqual({ what, code, wire: 0x003 });
      expect(err.message).toMatch(message);
    }
    await Promise.all(calls);
    expect(answers).toEqual(Array(40).fill('real'));
    expect(gw.registry.instances().map((i) => `${i.service}/${i.id}`).sort()).toEqual(['order/order-1', 'payment/payment-1']);
    expect(gw.registry.get('payment', 'payment-1')!.connection).toBe(realPayment);
  });

  it('the same principal cannot run two live processes under one instance id', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h) } });
    const token = await mint('payment', { service: 'payment', register: ['payment.*'] });
    await tokenService(h, gw.url, token, 'payment', 'payment-1', paymentRoutes('first'));
    const err = await refusal(tokenService(h, gw.url, token, 'payment', 'payment-1', paymentRoutes('second')));
    expect(err.code).toBe('REJECTED_SETUP');
    expect(err.message).toMatch(/^instance id payment\/payment-1 is live on another connection \(it answered a ping within 2000 ms\)/);
    const client = await h.client(gw.url, { setupMetadata: withToken(await mint('c', { call: ['payment.*'] })) });
    expect(await client.requestResponse('payment.authorize', { orderId: 'o1' })).toMatchObject({ by: 'first' });
  });

  it('the same principal takes an instance id over from a half-open connection that does not answer a ping', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h), probeTimeoutMs: 200 } });
    const token = await mint('payment', { service: 'payment', register: ['payment.*'] });
    // A peer that registered, then went silent: it never answers a KEEPALIVE, as a process behind a dropped network.
    const silent = new WebSocket(gw.url);
    const received: Array<{ type: number; message?: string }> = [];
    silent.on('message', (data: Buffer) => {
      const f = decodeFrame(new Uint8Array(data));
      received.push({ type: f.type, ...(f.type === FrameType.ERROR ? { message: f.message } : {}) });
    });
    const closed = new Promise<void>((resolve) => silent.on('close', () => resolve()));
    h.onCleanup(() => silent.terminate());
    await new Promise<void>((resolve, reject) => silent.on('open', resolve).on('error', reject));
    const registration = registrationEntry({ service: 'payment', instance: 'payment-1', routes: ['payment.authorize'] });
    silent.send(encodeSetup({ keepAlive: 60_000, lifetime: 600_000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON, metadata: encodeComposite([registration, ...withToken(token)]) }));
    await eventually(() => gw.registry.get('payment', 'payment-1'), 'the silent peer to register');

    await tokenService(h, gw.url, token, 'payment', 'payment-1', paymentRoutes('restarted'));
    await closed;
    expect(received.filter((f) => f.type === FrameType.ERROR).map((f) => f.message)).toEqual(['CONNECTION_CLOSED: replaced by a newer registration of payment/payment-1']);
    expect(received.some((f) => f.type === FrameType.KEEPALIVE)).toBe(true); // it was probed
    const client = await h.client(gw.url, { setupMetadata: withToken(await mint('c', { call: ['payment.*'] })) });
    expect(await client.requestResponse('payment.authorize', { orderId: 'o1' })).toMatchObject({ by: 'restarted' });
    expect(gw.registry.instances()).toHaveLength(1);
  });

  it('in open mode a live instance cannot be flapped by a second registrant either', async () => {
    const gw = await h.gateway();
    await tokenService(h, gw.url, undefined, 'payment', 'payment-1', paymentRoutes('real'));
    const err = await refusal(tokenService(h, gw.url, undefined, 'payment', 'payment-1', paymentRoutes('evil')));
    expect(err.message).toMatch(/^instance id payment\/payment-1 is live on another connection/);
    const client = await h.client(gw.url);
    for (let i = 0; i < 5; i++) expect(await client.requestResponse('payment.authorize', { orderId: `o${i}` })).toMatchObject({ by: 'real' });
  });
});
