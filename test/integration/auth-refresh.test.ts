/**
 * Tokens on live connections, through real sockets: a METADATA_PUSH with a
 * bearer entry refreshes the grant and the expiry; a connection whose token
 * runs out unrefreshed is closed with UNAUTHENTICATED; a refresh for another
 * subject, or a bad one, ends the connection; any other METADATA_PUSH is a
 * PROTOCOL_VIOLATION. Waits are on close events or bounded polls, never sleeps.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import { bearerEntry } from '../../src/auth/bearer.js';
import { SluiceError } from '../../src/errors.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { SluiceClient } from '../../src/client/client.js';
import { MimeTypes, encodeComposite, routeMetadata } from '../../src/protocol/metadata.js';
import type { Connection } from '../../src/rsocket/connection.js';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import { eventually, useHarness } from '../helpers/harness.js';
import { mint, secretFile, tokenService, withToken } from '../helpers/auth.js';

const h = useHarness();

async function setup() {
  const gw = await h.gateway({ auth: { secretFile: await secretFile(h), clockSkewMs: 0 } });
  await tokenService(h, gw.url, await mint('bench', { service: 'bench', register: ['bench.*'] }), 'bench', 'bench-1', benchRoutes());
  return gw;
}

async function open(url: string, token: string): Promise<{ conn: Connection; client: SluiceClient; closed: Promise<SluiceError | undefined> }> {
  const conn = await establish(nodeTransport, { url, setupMetadata: withToken(token) });
  h.onCleanup(() => conn.close());
  const closed = new Promise<SluiceError | undefined>((resolve) => conn.onClose(resolve));
  return { conn, client: new SluiceClient({ current: conn }), closed };
}

const push = (conn: Connection, token: string) => conn.metadataPush(encodeComposite([bearerEntry(token)]));

describe('token expiry and refresh', () => {
  it('a token that expires unrefreshed closes the connection with UNAUTHENTICATED naming the time', async () => {
    const gw = await setup();
    const { client, closed } = await open(gw.url, await mint('alice', { call: ['bench.echo'] }, { ttlSec: 2 }));
    expect(await client.requestResponse('bench.echo', 1)).toBe(1);
    const err = await closed;
    expect(err?.code).toBe('UNAUTHENTICATED');
    expect(err?.message).toMatch(/^token expired at \d{4}-\d\d-\d\dT[\d:.]+Z$/);
  });

  it('a refresh by METADATA_PUSH replaces the grant and the expiry', async () => {
    const gw = await setup();
    const first = await mint('alice', { call: ['bench.echo'] }, { ttlSec: 2 });
    const firstExpiry = (Math.floor(Date.now() / 1000) + 2) * 1000;
    const { conn, client } = await open(gw.url, first);
    await expect(firstValueFrom(client.requestStream('bench.source', { count: 1 }))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    push(conn, await mint('alice', { call: ['bench.*'] }, { ttlSec: 60 }));
    const items = await eventually(
      () => firstValueFrom(client.requestStream('bench.source', { count: 2 }).pipe(toArray())).catch(() => undefined),
      'the refreshed grant to apply',
    );
    expect(items).toHaveLength(2);
    // Past the first token's expiry the connection is still open and serving.
    await eventually(() => Date.now() > firstExpiry + 250, 'the first token to expire', 200, 25);
    expect(conn.isOpen).toBe(true);
    expect(await client.requestResponse('bench.echo', 'still here')).toBe('still here');
  });

  it('a refresh for another subject ends the connection with UNAUTHENTICATED', async () => {
    const gw = await setup();
    const { conn, closed } = await open(gw.url, await mint('alice', { call: ['*'] }));
    push(conn, await mint('mallory', { call: ['*'], admin: true }));
    const err = await closed;
    expect({ code: err?.code, message: err?.message }).toEqual({ code: 'UNAUTHENTICATED', message: "token refresh for subject 'mallory' on a connection of 'alice'" });
  });

  it('a bad refresh token ends the connection with UNAUTHENTICATED saying why', async () => {
    const gw = await setup();
    const { conn, closed } = await open(gw.url, await mint('alice', { call: ['*'] }));
    push(conn, await mint('alice', { call: ['*'] }, { ttlSec: -10 }));
    const err = await closed;
    expect(err?.code).toBe('UNAUTHENTICATED');
    expect(err?.message).toMatch(/^token refresh: token expired at /);
  });

  it('a service whose refreshed token no longer grants its registration is closed', async () => {
    const gw = await setup();
    const token = await mint('echo', { service: 'echo', register: ['echo.*'] });
    const svc = await tokenService(h, gw.url, token, 'echo', 'echo-1', { 'echo.say': { requestResponse: (d: unknown) => d } });
    const closed = new Promise<SluiceError | undefined>((resolve) => svc.onClose(resolve));
    push(svc, await mint('echo', { service: 'echo', register: ['echo.other'] }));
    const err = await closed;
    expect(err?.code).toBe('UNAUTHENTICATED');
    expect(err?.message).toBe("token refresh: registration: route 'echo.say' is not granted to sub:echo for registration");
    await eventually(() => !gw.registry.has('echo.say'), 'the instance to leave');
  });

  it('any other METADATA_PUSH is a PROTOCOL_VIOLATION that ends only that connection', async () => {
    const gw = await setup();
    const other = await open(gw.url, await mint('bob', { call: ['*'] }));
    const a = await open(gw.url, await mint('alice', { call: ['*'] }));
    a.conn.metadataPush(routeMetadata('bench.echo'));
    const err = await a.closed;
    expect({ code: err?.code, message: err?.message }).toEqual({
      code: 'PROTOCOL_VIOLATION',
      message: `METADATA_PUSH carries only a token refresh (an authentication entry with a bearer token); got ${MimeTypes.ROUTING}`,
    });
    const b = await open(gw.url, await mint('alice', { call: ['*'] }));
    b.conn.metadataPush(Uint8Array.of(0x05, 0x61));
    expect((await b.closed)?.code).toBe('PROTOCOL_VIOLATION');
    expect(await other.client.requestResponse('bench.echo', 'unaffected')).toBe('unaffected');
  });

  it('with auth off a token refresh is accepted and ignored; other content is still refused', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const { conn, client } = await open(gw.url, 'opaque');
    push(conn, 'another-opaque');
    expect(await client.requestResponse('bench.echo', 'open')).toBe('open');
    expect(conn.isOpen).toBe(true);
    const other = await open(gw.url, 'x');
    other.conn.metadataPush(routeMetadata('bench.echo'));
    expect((await other.closed)?.code).toBe('PROTOCOL_VIOLATION');
  });
});
