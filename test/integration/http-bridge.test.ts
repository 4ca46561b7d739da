/**
 * The HTTP bridge over real HTTP on the gateway's WebSocket port: status
 * mapping of the main codes as problem+json, auth refusals, ETag/304,
 * Server-Sent Events whose producer stops when the reader pauses, and the
 * bridge's concurrency limits.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import type { RouteTable, StreamContext } from '../../src/service/handlers.js';
import { eventually, metricsText, metricValue, useHarness } from '../helpers/harness.js';
import { mint, secretFile } from '../helpers/auth.js';

const h = useHarness();

function httpUrl(wsUrl: string): string {
  return wsUrl.replace(/^ws/, 'http');
}

async function post(base: string, route: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/v1/routes/${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function problem(res: Response): Promise<{ type: string; title: string; status: number; detail: string; code: string }> {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const p = (await res.json()) as { type: string; title: string; status: number; detail: string; code: string };
  expect(p.status).toBe(res.status);
  expect(p.type).toBe(`urn:sluice:error:${p.code}`);
  expect(typeof p.title).toBe('string');
  expect(typeof p.detail).toBe('string');
  return p;
}

/** A handler that answers only when the test lets it. */
function held() {
  const waiting: Array<() => void> = [];
  return {
    waiting,
    handler: (data: unknown) => new Promise((resolve) => waiting.push(() => resolve(data))),
    releaseAll: () => waiting.splice(0).forEach((f) => f()),
  };
}

describe('HTTP bridge: request-response and status mapping', () => {
  it('POST forwards JSON to the route and back', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 't', instance: 't1', routes: { 't.echo': { requestResponse: (d: unknown) => ({ got: d }) } } });
    const res = await post(httpUrl(gw.url), 't.echo', { a: 1 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ got: { a: 1 } });
  });

  it('maps the main codes to statuses with problem+json bodies', async () => {
    const gw = await h.gateway({
      policies: {
        defaults: {},
        routes: {
          't.limited': { rateLimit: { ratePerSec: 0.001, burst: 1 } },
          't.narrow': { bulkhead: { maxConcurrent: 1, maxQueue: 0, maxPerIdentity: 1 } },
        },
      },
      limits: { maxPayloadSize: 2048 },
    });
    const slow = held();
    const routes: RouteTable = {
      't.echo': { requestResponse: (d: unknown) => d },
      't.limited': { requestResponse: () => 'ok' },
      't.narrow': { requestResponse: slow.handler },
      't.never': { requestResponse: (_d: unknown, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))) },
      't.poison': {
        requestResponse: () => {
          throw new SluiceError('POISON_MESSAGE', 'never');
        },
      },
      't.broken': {
        requestResponse: () => {
          throw new Error('boom');
        },
      },
    };
    await h.service({ url: gw.url, service: 't', instance: 't1', routes });
    const base = httpUrl(gw.url);

    let res = await post(base, 'no.such', {});
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe('NO_ROUTE');

    res = await post(base, 't.echo', '{not json');
    expect(res.status).toBe(400);
    expect((await problem(res)).code).toBe('INVALID_ARGUMENT');

    res = await post(base, 't.echo', { pad: 'x'.repeat(4096) });
    expect(res.status).toBe(413);
    expect((await problem(res)).code).toBe('PAYLOAD_TOO_LARGE');

    res = await post(base, 't.echo', 'x', { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);

    res = await post(base, 't.never', {}, { 'sluice-deadline-ms': '50' });
    expect(res.status).toBe(504);
    expect((await problem(res)).code).toBe('DEADLINE_EXCEEDED');

    res = await post(base, 't.echo', {}, { 'sluice-deadline-ms': 'soon' });
    expect(res.status).toBe(400);

    expect((await post(base, 't.limited', {})).status).toBe(200);
    res = await post(base, 't.limited', {});
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await problem(res)).code).toBe('OVERLOADED');

    const first = post(base, 't.narrow', { n: 1 });
    await eventually(() => slow.waiting.length === 1, 'the first call to hold the only slot');
    res = await post(base, 't.narrow', { n: 2 });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await problem(res)).code).toBe('OVERLOADED');
    slow.releaseAll();
    expect(await (await first).json()).toEqual({ n: 1 });

    res = await post(base, 't.poison', {});
    expect(res.status).toBe(422);
    expect((await problem(res)).code).toBe('POISON_MESSAGE');

    res = await post(base, 't.broken', {});
    expect(res.status).toBe(502);
    expect((await problem(res)).code).toBe('INTERNAL');

    res = await fetch(`${base}/v1/routes/t.echo`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');

    // Without the bridge's path, the port still says what it is for.
    expect((await fetch(`${base}/`)).status).toBe(426);
    const text = await metricsText(gw);
    expect(metricValue(text, 'sluice_http_requests_total', { endpoint: 'routes', status: '404' })).toBe(1);
  });

  it('a circuit open on every instance is 503 with Retry-After', async () => {
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 't.fail': { retry: { maxAttempts: 1 }, breaker: { windowSize: 2, minimumCalls: 2, openDurationMs: 60_000 } } } } });
    await h.service({
      url: gw.url,
      service: 't',
      instance: 't1',
      routes: {
        't.fail': {
          requestResponse: () => {
            throw new SluiceError('UNAVAILABLE', 'down');
          },
        },
      },
    });
    const base = httpUrl(gw.url);
    expect((await post(base, 't.fail', {})).status).toBe(503);
    expect((await post(base, 't.fail', {})).status).toBe(503);
    const res = await post(base, 't.fail', {});
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe('CIRCUIT_OPEN');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(1);
  });
});

describe('HTTP bridge: auth', () => {
  it('refuses a missing or bad token with 401 and WWW-Authenticate, and an ungranted route with 403', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h), anonymous: { enabled: false } } });
    const svcToken = await mint('t', { service: 't', register: ['t.*'] });
    await h.service({ url: gw.url, service: 't', instance: 't1', token: svcToken, routes: { 't.echo': { requestResponse: (d: unknown) => d }, 't.secret': { requestResponse: () => 's' } } });
    const base = httpUrl(gw.url);

    let res = await post(base, 't.echo', {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect((await problem(res)).code).toBe('UNAUTHENTICATED');

    res = await post(base, 't.echo', {}, { authorization: 'Bearer not.a.token' });
    expect(res.status).toBe(401);

    res = await post(base, 't.echo', {}, { authorization: 'Basic dXNlcjpwdw==' });
    expect(res.status).toBe(401);

    const caller = await mint('alice', { call: ['t.echo'] });
    res = await post(base, 't.echo', { x: 1 }, { authorization: `Bearer ${caller}` });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ x: 1 });

    // Refused before the route is looked up: an unknown route is 403 too, not 404.
    for (const route of ['t.secret', 'no.such']) {
      res = await post(base, route, {}, { authorization: `Bearer ${caller}` });
      expect(res.status).toBe(403);
      expect((await problem(res)).code).toBe('PERMISSION_DENIED');
    }
    res = await fetch(`${base}/v1/streams/t.secret`, { headers: { authorization: `Bearer ${caller}` } });
    expect(res.status).toBe(403);
  });

  it('gives callers without a token the anonymous grant', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h), anonymous: { enabled: true, call: ['t.open'] } } });
    const svcToken = await mint('t', { service: 't', register: ['t.*'] });
    await h.service({ url: gw.url, service: 't', instance: 't1', token: svcToken, routes: { 't.open': { requestResponse: () => 'hi' }, 't.closed': { requestResponse: () => 'no' } } });
    const base = httpUrl(gw.url);
    expect(await (await post(base, 't.open', {})).json()).toBe('hi');
    expect((await post(base, 't.closed', {})).status).toBe(403);
  });
});

describe('HTTP bridge: GET on idempotent routes', () => {
  it('maps the query to the payload and answers If-None-Match with 304', async () => {
    const gw = await h.gateway();
    await h.service({
      url: gw.url,
      service: 't',
      instance: 't1',
      routes: {
        't.get': { idempotent: true, requestResponse: (d: unknown) => ({ query: d }) },
        't.write': { requestResponse: () => 'written' },
      },
    });
    const base = httpUrl(gw.url);
    const res = await fetch(`${base}/v1/routes/t.get?orderId=o-1&tag=a&tag=b`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ query: { orderId: 'o-1', tag: ['a', 'b'] } });
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');

    const again = await fetch(`${base}/v1/routes/t.get?orderId=o-1&tag=a&tag=b`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    const other = await fetch(`${base}/v1/routes/t.get?orderId=o-2`, { headers: { 'if-none-match': etag! } });
    expect(other.status).toBe(200);
    expect(other.headers.get('etag')).not.toBe(etag);

    const write = await fetch(`${base}/v1/routes/t.write`);
    expect(write.status).toBe(405);
    expect(write.headers.get('allow')).toBe('POST');
  });
});

/** An SSE reader on node:http that can pause: counts events and keeps the raw text. */
function sse(url: string, headers: Record<string, string> = {}) {
  let text = '';
  let events = 0;
  let res!: IncomingMessage;
  const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } });
  const opened = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (r) => {
      res = r;
      r.setEncoding('utf8');
      r.on('data', (chunk: string) => {
        text += chunk;
        events += chunk.split('\n\n').length - 1 - (chunk.match(/^: keep-alive$/gm)?.length ?? 0);
      });
      resolve(r);
    });
    req.on('error', reject);
  });
  req.end();
  const ended = opened.then((r) => new Promise<void>((resolve) => r.on('end', () => resolve())));
  return {
    opened,
    ended,
    get text() {
      return text;
    },
    get events() {
      return events;
    },
    pause: () => res.pause(),
    resume: () => res.resume(),
    destroy: () => req.destroy(),
  };
}

describe('HTTP bridge: Server-Sent Events', () => {
  it('a reader that stops reading stops the producer, and it resumes when the reader does', async () => {
    const gw = await h.gateway({ http: { sseWindow: 8 } });
    const total = 3_000;
    const pad = 'x'.repeat(16 * 1024);
    let emitted = 0;
    await h.service({
      url: gw.url,
      service: 't',
      instance: 't1',
      routes: {
        't.feed': {
          requestStream: () =>
            (async function* () {
              for (let seq = 0; seq < total; seq++) {
                emitted++;
                yield { seq, pad };
              }
            })(),
        },
      },
    });
    const reader = sse(`${httpUrl(gw.url)}/v1/streams/t.feed`);
    const res = await reader.opened;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await eventually(() => reader.events >= 10, 'the first events');
    reader.pause();
    // Once the socket buffers are full, nothing more is produced: the count holds still over many checks.
    let last = -1;
    let still = 0;
    await eventually(() => {
      if (emitted === last) {
        still++;
      } else {
        still = 0;
        last = emitted;
      }
      return still >= 20;
    }, 'the producer to stop', 600, 25);
    expect(emitted).toBeLessThan(total);
    const stalledAt = emitted;
    reader.resume();
    await reader.ended;
    expect(emitted).toBe(total);
    expect(stalledAt).toBeLessThan(total);
    expect(reader.events).toBe(total + 1); // every item and the completion event
    expect(reader.text.trimEnd().endsWith('event: complete\ndata: {}')).toBe(true);
  });

  it('a client disconnect cancels the producer; heartbeats keep an idle stream open', async () => {
    const gw = await h.gateway({ http: { sseHeartbeatMs: 100 } });
    let aborted = false;
    await h.service({
      url: gw.url,
      service: 't',
      instance: 't1',
      routes: {
        't.idle': {
          requestStream: (_d: unknown, ctx) =>
            (async function* () {
              yield { hello: true };
              await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
              aborted = true;
            })(),
        },
      },
    });
    const reader = sse(`${httpUrl(gw.url)}/v1/routes/t.idle`);
    await reader.opened;
    await eventually(() => reader.text.includes(': keep-alive'), 'a heartbeat');
    expect(reader.text).toContain('data: {"hello":true}');
    reader.destroy();
    await eventually(() => aborted, 'the producer to see the cancel');
    await eventually(() => gw.metrics && metricsText(gw).then((t) => (metricValue(t, 'sluice_http_in_flight') ?? 1) === 0), 'the HTTP slot to be free');
  });

  it('events carry their position as id; Last-Event-ID resumes a resumable route after it, and is refused on others', async () => {
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 't.log': { resumable: true } } } });
    const seen: (number | undefined)[] = [];
    // An ordered log of 6 events: position k is event k, so the route can send the events after any position.
    const log = (_d: unknown, ctx: StreamContext) =>
      (async function* () {
        seen.push(ctx.resumeAfter);
        for (let k = (ctx.resumeAfter ?? 0) + 1; k <= 6; k++) yield { event: k };
      })();
    await h.service({ url: gw.url, service: 't', instance: 't1', routes: { 't.log': { requestStream: log }, 't.plain': { requestStream: log } } });
    const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    const events = (text: string) => [...text.matchAll(/^data: \{"event":(\d+)\}$/gm)].map((m) => Number(m[1]));

    const first = sse(`${httpUrl(gw.url)}/v1/streams/t.log`);
    await first.ended;
    expect(ids(first.text)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events(first.text)).toEqual([1, 2, 3, 4, 5, 6]);

    // The reader lost the connection after event 4: it reconnects naming it, and gets 5 and 6 with their ids.
    const resumed = sse(`${httpUrl(gw.url)}/v1/streams/t.log`, { 'last-event-id': '4' });
    const res = await resumed.opened;
    expect(res.statusCode).toBe(200);
    expect(res.headers['sluice-resumed-after']).toBe('4');
    await resumed.ended;
    expect(ids(resumed.text)).toEqual([5, 6]);
    expect(events(resumed.text)).toEqual([5, 6]);
    expect(seen).toEqual([undefined, 4]);

    // A route that cannot resume says so; it does not start again pretending to resume.
    const plain = await fetch(`${httpUrl(gw.url)}/v1/streams/t.plain`, { headers: { 'last-event-id': '4' } });
    expect(plain.status).toBe(409);
    expect(await problem(plain)).toMatchObject({ code: 'RESUME_UNSUPPORTED', status: 409 });
    expect(seen).toEqual([undefined, 4]);
    const fresh = sse(`${httpUrl(gw.url)}/v1/streams/t.plain`);
    await fresh.ended;
    expect(ids(fresh.text)).toEqual([1, 2, 3, 4, 5, 6]);

    const bad = await fetch(`${httpUrl(gw.url)}/v1/streams/t.log`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect((await problem(bad)).code).toBe('INVALID_ARGUMENT');
  });

  it('Last-Event-ID on a route the caller may not call is refused for the grant, saying nothing of the route', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h) }, policies: { defaults: {}, routes: { 't.log': { resumable: true } } } });
    const token = await mint('nosy', { call: ['other.*'] });
    const res = await fetch(`${httpUrl(gw.url)}/v1/streams/t.log`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': '3' } });
    expect(res.status).toBe(403);
    expect((await problem(res)).code).toBe('PERMISSION_DENIED');
  });

  it('a refusal before the first event is a problem with its status', async () => {
    const gw = await h.gateway();
    const res = await fetch(`${httpUrl(gw.url)}/v1/streams/no.such`);
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe('NO_ROUTE');
  });
});

describe('HTTP bridge: limits', () => {
  it('refuses beyond the per-address share with 429 and beyond the gateway total with 503', async () => {
    const slow = held();
    const routes: RouteTable = { 't.slow': { requestResponse: slow.handler } };
    const perAddress = await h.gateway({ http: { maxConcurrentPerAddress: 1 } });
    await h.service({ url: perAddress.url, service: 't', instance: 't1', routes });
    const first = post(httpUrl(perAddress.url), 't.slow', { n: 1 });
    await eventually(() => slow.waiting.length === 1, 'the first request in flight');
    let res = await post(httpUrl(perAddress.url), 't.slow', { n: 2 });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await problem(res)).code).toBe('OVERLOADED');
    slow.releaseAll();
    expect((await first).status).toBe(200);

    const overall = await h.gateway({ http: { maxConcurrent: 1 } });
    await h.service({ url: overall.url, service: 't', instance: 't2', routes });
    const one = post(httpUrl(overall.url), 't.slow', { n: 3 });
    await eventually(() => slow.waiting.length === 1, 'the first request in flight');
    res = await post(httpUrl(overall.url), 't.slow', { n: 4 });
    expect(res.status).toBe(503);
    expect((await problem(res)).code).toBe('OVERLOADED');
    slow.releaseAll();
    expect((await one).status).toBe(200);
  });
});
