/** Routing, load balancing, instance failure and registration, over real sockets and processes. */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray, take } from 'rxjs';
import { SluiceError } from '../../src/errors.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { encodeJson } from '../../src/protocol/json.js';
import { eventually, recorder, jsonPayload, useHarness } from '../helpers/harness.js';

const h = useHarness();

describe('routing', () => {
  it('answers an unknown route with NO_ROUTE naming it, as REJECTED (0x202)', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const client = await h.client(gw.url);
    const err = await client.requestResponse('orders.nowhere', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('NO_ROUTE');
    expect((err as SluiceError).wireCode).toBe(0x202);
    expect((err as SluiceError).message).toContain("'orders.nowhere'");
    // The connection is fine afterwards.
    expect(await client.requestResponse('bench.echo', { ok: true })).toEqual({ ok: true });
  });

  it('refuses a request without routing metadata with INVALID_ARGUMENT', async () => {
    const gw = await h.gateway();
    const conn = await h.raw(gw.url);
    const rec = recorder();
    conn.requestResponse({ data: encodeJson({}), metadata: null }, rec.handler);
    const end = await rec.ended;
    expect(end.error.code).toBe('INVALID_ARGUMENT');
  });

  it('routes each request of one connection by its own metadata, whether it repeats the last one or not', async () => {
    // The forwarder remembers a connection's last request metadata (src/broker/request-heads.ts): repeats,
    // alternations, a refused request in between and metadata of another length must each go where their own bytes say.
    const gw = await h.gateway();
    const seen: string[] = [];
    const tag = (route: string) => (_d: unknown, ctx: { metadata: ReadonlyArray<{ mimeType: string; content: Uint8Array }> }) => {
      const custom = ctx.metadata.find((e) => e.mimeType === 'application/x.tag');
      const answer = `${route}:${custom ? new TextDecoder().decode(custom.content) : '-'}`;
      seen.push(answer);
      return answer;
    };
    await h.service({ url: gw.url, service: 'one', routes: { 'one.a': { requestResponse: tag('one.a') }, 'one.b': { requestResponse: tag('one.b') } } });
    const client = await h.client(gw.url);
    const withTag = (t: string) => ({ metadata: [{ mimeType: 'application/x.tag', content: new TextEncoder().encode(t) }] });
    const answers: unknown[] = [];
    for (const [route, t] of [['one.a', ''], ['one.a', ''], ['one.b', ''], ['one.b', 'x'], ['one.b', 'y'], ['one.a', 'y'], ['one.a', 'y']] as const) {
      answers.push(await client.requestResponse(route, {}, t ? withTag(t) : {}));
    }
    const refused = await client.requestResponse('one.c', {}).catch((e: unknown) => (e as SluiceError).code);
    answers.push(refused, await client.requestResponse('one.a', {}));
    expect(answers).toEqual(['one.a:-', 'one.a:-', 'one.b:-', 'one.b:x', 'one.b:y', 'one.a:y', 'one.a:y', 'NO_ROUTE', 'one.a:-']);
    expect(seen).toHaveLength(8);
  });

  it('passes unknown metadata entries through to the service', async () => {
    const gw = await h.gateway();
    let seen: string[] = [];
    await h.service({
      url: gw.url,
      service: 'meta',
      routes: { 'meta.inspect': { requestResponse: (_d, ctx) => (seen = ctx.metadata.map((e) => `${e.mimeType}=${new TextDecoder().decode(e.content)}`)) } },
    });
    const client = await h.client(gw.url);
    await client.requestResponse('meta.inspect', {}, { metadata: [{ mimeType: 'application/x.custom-tenant', content: new TextEncoder().encode('acme') }] });
    expect(seen).toContain('application/x.custom-tenant=acme');
  });

  it('shares load between two instances by least outstanding work', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench', instance: 'bench-a' });
    await h.service({ url: gw.url, service: 'bench', instance: 'bench-b' });
    const conn = await h.raw(gw.url);
    // Ten open streams, none finished: each pick sees the other instance's open ones.
    for (let i = 0; i < 10; i++) conn.requestStream(jsonPayload('bench.source', { id: `lb-${i}` }), 1, recorder().handler);
    const active = await eventually(() => {
      const counts = Object.fromEntries(gw.registry.instances().map((i) => [i.id, i.active]));
      return counts['bench-a']! + counts['bench-b']! === 10 ? counts : undefined;
    }, 'ten streams to be placed');
    expect(active).toEqual({ 'bench-a': 5, 'bench-b': 5 });
  });

  it('ends the streams of a killed instance with UNAVAILABLE while the other instance keeps streaming', async () => {
    const gw = await h.gateway();
    const a = await h.benchProcess(gw.url, 'bench-a');
    await h.benchProcess(gw.url, 'bench-b');
    const conn = await h.raw(gw.url);
    const streams = Array.from({ length: 6 }, (_, i) => {
      const rec = recorder();
      const stream = conn.requestStream(jsonPayload('bench.source', { id: `kill-${i}` }), 1, rec.handler);
      return { rec, stream };
    });
    await Promise.all(streams.map((s) => s.rec.received(1)));
    const placed = Object.fromEntries(gw.registry.instances().map((i) => [i.id, i.active]));
    expect(placed).toEqual({ 'bench-a': 3, 'bench-b': 3 });
    a.process.kill('SIGKILL');
    const failed = await new Promise<Array<{ error: SluiceError }>>((resolve) => {
      const ends: Array<{ error: SluiceError }> = [];
      for (const s of streams) {
        void s.rec.ended.then((e) => {
          ends.push(e as { error: SluiceError });
          if (ends.length === 3) resolve(ends);
        });
      }
    });
    for (const f of failed) {
      expect(f.error.code).toBe('UNAVAILABLE');
      expect(f.error.message).toContain("instance 'bench-a'");
    }
    // The survivors continue.
    const survivors = streams.filter((s) => !s.stream.closed);
    expect(survivors).toHaveLength(3);
    for (const s of survivors) s.stream.request(2);
    await Promise.all(survivors.map((s) => s.rec.received(3)));
    expect(gw.registry.instances().map((i) => i.id)).toEqual(['bench-b']);
  });

  it('removes an instance the moment it disconnects: new requests go elsewhere or get NO_ROUTE', async () => {
    const gw = await h.gateway();
    const svc = await h.service({ url: gw.url, service: 'bench' });
    const client = await h.client(gw.url);
    expect(await client.requestResponse('bench.echo', 1)).toBe(1);
    svc.close();
    await eventually(() => !gw.registry.has('bench.echo'), 'the instance to be removed');
    await expect(client.requestResponse('bench.echo', 1)).rejects.toMatchObject({ code: 'NO_ROUTE' });
  });

  it('refuses an invalid registration with REJECTED_SETUP naming the field', async () => {
    const gw = await h.gateway();
    const bad = { mimeType: MimeTypes.REGISTRATION, content: encodeJson({ service: 'x', instance: 'x-1', routes: [] }) };
    const err = await establish(nodeTransport, { url: gw.url, setupMetadata: [bad] }).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('REJECTED_SETUP');
    expect((err as SluiceError).message).toContain("'routes'");
  });

  it('a second live registration of the same instance is refused; the first keeps serving', async () => {
    const gw = await h.gateway();
    const first = await h.service({ url: gw.url, service: 'bench', instance: 'bench-1' });
    const err = await h.service({ url: gw.url, service: 'bench', instance: 'bench-1', reconnect: { maxAttempts: 1 } }).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('REJECTED_SETUP');
    expect((err as SluiceError).message).toMatch(/^instance id bench\/bench-1 is live on another connection/);
    expect(first.connected).toBe(true);
    expect(gw.registry.instances()).toHaveLength(1);
    const client = await h.client(gw.url);
    expect(await client.requestResponse('bench.echo', 'hi')).toBe('hi');
  });

  it('a service reconnects and registers again after a gateway restart', async () => {
    const gw1 = await h.gateway();
    const port = Number(new URL(gw1.url).port);
    const svc = await h.service({ url: gw1.url, service: 'bench' });
    await gw1.close();
    await eventually(() => !svc.connected, 'the service to notice');
    const gw2 = await h.gateway({ listen: { port } });
    await eventually(() => gw2.registry.has('bench.echo'), 'the service to register again', 400);
    const client = await h.client(gw2.url);
    expect(await client.requestResponse('bench.echo', { again: true })).toEqual({ again: true });
    const items = await firstValueFrom(client.requestStream('bench.source', { count: 3 }).pipe(take(3), toArray()));
    expect(items).toHaveLength(3);
  });
});

describe('route churn', () => {
  it('refuses a registration beyond limits.maxRoutes, and forgets the policy state of routes nobody serves', async () => {
    const gw = await h.gateway({ limits: { maxRoutes: 4 } });
    const first = await h.service({ url: gw.url, service: 'bench' });
    const err = await establish(nodeTransport, {
      url: gw.url,
      setupMetadata: [{ mimeType: MimeTypes.REGISTRATION, content: encodeJson({ service: 'extra', instance: 'extra-1', routes: ['extra.one'] }) }],
    }).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('REJECTED_SETUP');
    expect((err as SluiceError).message).toBe('registration: the gateway serves 4 routes and takes at most 4');
    const client = await h.client(gw.url);
    await client.requestResponse('bench.echo', 1);
    expect([...gw.policies.all()].map((r) => r.route)).toEqual(['bench.echo']);
    first.close();
    await eventually(() => !gw.registry.has('bench.echo'), 'the instance to leave');
    expect([...gw.policies.all()]).toHaveLength(0);
  });
});
