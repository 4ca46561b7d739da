/**
 * Identity and permissions through real sockets: every SETUP refusal with its
 * exact code and reason (never "connected"), per-route permissions in all four
 * interaction models and on the gateway's own routes, the anonymous grant,
 * JWKS verification, and open mode's loopback-only rule.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray, take, of } from 'rxjs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createGateway } from '../../src/gateway.js';
import { ConfigError } from '../../src/config.js';
import { SluiceError } from '../../src/errors.js';
import { establish } from '../../src/client/connector.js';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { MimeTypes, type MetadataEntry } from '../../src/protocol/metadata.js';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { eventually, metricValue, metricsText, useHarness } from '../helpers/harness.js';
import { startChild } from '../../examples/checkout/src/supervisor.js';
import { mint, secretFile, tokenService, withToken } from '../helpers/auth.js';

const h = useHarness();

async function authGateway(extra: { anonymous?: { enabled?: boolean; call?: string[] }; issuer?: string; audience?: string; clockSkewMs?: number } = {}, options: Parameters<typeof h.gateway>[0] = {}) {
  const secret = await secretFile(h);
  return h.gateway({ ...options, auth: { secretFile: secret, clockSkewMs: 0, ...extra } });
}

async function refused(url: string, setupMetadata: MetadataEntry[]): Promise<SluiceError> {
  const err = await establish(nodeTransport, { url, setupMetadata }).then(
    (c) => {
      c.close();
      return new Error('connected');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

const fnfRoutes = (seen: unknown[]): RouteTable => ({
  ...benchRoutes(),
  'bench.note': { fireAndForget: (d: unknown) => void seen.push(d) },
});

describe('SETUP authentication', () => {
  it('refuses every bad credential with UNAUTHENTICATED (REJECTED_SETUP 0x003) saying which, over WebSocket and TCP', async () => {
    const gw = await authGateway({ anonymous: { enabled: false }, issuer: 'sluice', audience: 'gw' }, { listen: { tcpPort: 0 } });
    const ok = { iss: 'sluice', aud: 'gw' };
    const cases: Array<[string, MetadataEntry[], RegExp]> = [
      ['missing', [], /^a bearer token is required/],
      ['expired', withToken(await mint('a', {}, { ...ok, ttlSec: -5 })), /^token expired at /],
      ['not yet valid', withToken(await mint('a', {}, { ...ok, nbfSec: 600 })), /^token not yet valid/],
      ['bad signature', withToken(await mint('a', {}, { ...ok, secret: 'some-other-secret-of-32-bytes-or-more' })), /^token has a bad signature$/],
      ['unknown issuer', withToken(await mint('a', {}, { iss: 'evil', aud: 'gw' })), /^token from unknown issuer "evil"$/],
      ['unknown audience', withToken(await mint('a', {}, { iss: 'sluice', aud: 'other' })), /^token for unknown audience "other"$/],
      ['malformed', withToken('not-a-jwt'), /^malformed token: /],
      ['bad grant', withToken(await mint('a', { call: ['no spaces allowed'] }, ok)), /^token claim 'sluice.call\[0\]' is not a route pattern/],
      ['simple auth', [{ mimeType: MimeTypes.AUTHENTICATION, content: Uint8Array.of(0x80, 0, 1, 0x61, 0x62) }], /^simple \(user\/password\) authentication is not supported/],
    ];
    for (const url of [gw.url, `tcp://127.0.0.1:${gw.tcp!.port}`]) {
      for (const [what, metadata, message] of cases) {
        const err = await refused(url, metadata);
        expect({ what, code: err.code, wire: err.wireCode }).toEqual({ what, code: 'UNAUTHENTICATED', wire: 0x003 });
        expect(err.message).toMatch(message);
      }
    }
    // A good token still connects.
    const conn = await establish(nodeTransport, { url: gw.url, setupMetadata: withToken(await mint('a', {}, ok)) });
    conn.close();
  });

  it('the Node client rejects connect() with UNAUTHENTICATED, never reporting connected', async () => {
    const gw = await authGateway({ anonymous: { enabled: false } });
    const statuses: string[] = [];
    const err = await h.client(gw.url, { setupMetadata: withToken(await mint('a', {}, { ttlSec: -5 })), onStatus: (s) => statuses.push(s.state) }).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('UNAUTHENTICATED');
    expect(statuses).not.toContain('connected');
  });
});

describe('per-route permissions', () => {
  it('are checked in all four interaction models: PERMISSION_DENIED (REJECTED 0x202) naming route and principal', async () => {
    const gw = await authGateway();
    const seen: unknown[] = [];
    await tokenService(h, gw.url, await mint('bench', { service: 'bench', register: ['bench.*'] }), 'bench', 'bench-1', fnfRoutes(seen));
    const alice = await h.client(gw.url, { setupMetadata: withToken(await mint('alice', { call: ['bench.echo', 'bench.note'] })) });
    const bob = await h.client(gw.url, { setupMetadata: withToken(await mint('bob', { call: ['bench.source', 'bench.sink'] })) });

    expect(await alice.requestResponse('bench.echo', 'hi')).toBe('hi');
    const denied = (await bob.requestResponse('bench.echo', 'hi').catch((e: unknown) => e)) as SluiceError;
    expect({ code: denied.code, wire: denied.wireCode, message: denied.message }).toEqual({
      code: 'PERMISSION_DENIED',
      wire: 0x202,
      message: "route 'bench.echo' is not granted to sub:bob",
    });

    expect(await firstValueFrom(bob.requestStream('bench.source', { count: 2 }).pipe(toArray()))).toHaveLength(2);
    await expect(firstValueFrom(alice.requestStream('bench.source', { count: 2 }))).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "route 'bench.source' is not granted to sub:alice" });

    expect(await firstValueFrom(bob.requestChannel('bench.sink', of({ delayMs: 0 }, { seq: 1 })).pipe(take(1)))).toMatchObject({ seq: 0 });
    await expect(firstValueFrom(alice.requestChannel('bench.sink', of({ delayMs: 0 })))).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "route 'bench.sink' is not granted to sub:alice" });

    bob.fireAndForget('bench.note', 'from bob');
    alice.fireAndForget('bench.note', 'from alice');
    await eventually(() => seen.length === 1, "alice's fire-and-forget");
    expect(await alice.requestResponse('bench.echo', 'after')).toBe('after'); // ordering: bob's FNF was handled before this
    expect(seen).toEqual(['from alice']);
    const metrics = await metricsText(gw);
    expect(metricValue(metrics, 'sluice_errors_total', { route: 'bench.note', code: 'PERMISSION_DENIED' })).toBe(1);
  });

  it('a caller learns nothing about routes it may not call: an unknown route is PERMISSION_DENIED too', async () => {
    const gw = await authGateway({ anonymous: { call: ['bench.*'] } });
    const anon = await h.client(gw.url);
    await expect(anon.requestResponse('payment.refund', { orderId: 'o1' })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: "route 'payment.refund' is not granted to anonymous:127.0.0.1",
    });
    await expect(anon.requestResponse('bench.echo', 1)).rejects.toMatchObject({ code: 'NO_ROUTE' });
  });

  it('the anonymous grant calls only its patterns and never registers', async () => {
    const gw = await authGateway({ anonymous: { call: ['bench.echo', 'sluice.stats'] } });
    await tokenService(h, gw.url, await mint('bench', { service: 'bench', register: ['bench.*'] }), 'bench', 'bench-1', benchRoutes());
    const anon = await h.client(gw.url);
    expect(await anon.requestResponse('bench.echo', 'x')).toBe('x');
    expect(await firstValueFrom(anon.requestStream('sluice.stats', { intervalMs: 100 }).pipe(take(1)))).toMatchObject({ routes: expect.any(Array) });
    await expect(anon.requestResponse('bench.stats', { id: 'x' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const err = await tokenService(h, gw.url, undefined, 'bench', 'bench-2', benchRoutes()).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('REJECTED_SETUP');
    expect((err as SluiceError).message).toMatch(/^registration: anonymous connections may not register services/);
  });

  it('sluice.stats needs a call grant; dlq.list and dlq.replay need admin; a replay runs as the gateway itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dlq-auth-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const gw = await authGateway({}, { deadLetter: { dir }, policies: { routes: { 'ctl.op': { deadLetter: true } } } });
    const caller = await h.client(gw.url, { setupMetadata: withToken(await mint('caller', { call: ['ctl.op', 'dlq.*', '*'] })) });
    const admin = await h.client(gw.url, { setupMetadata: withToken(await mint('ops', { call: ['sluice.stats'], admin: true })) });
    const nobody = await h.client(gw.url, { setupMetadata: withToken(await mint('nobody', {})) });

    await expect(firstValueFrom(nobody.requestStream('sluice.stats', {}))).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "route 'sluice.stats' is not granted to sub:nobody" });
    // No instance serves ctl.op yet: the command is dead-lettered.
    const failed = (await caller.requestResponse('ctl.op', { n: 1 }).catch((e: unknown) => e)) as SluiceError;
    expect(failed.message).toMatch(/dead-lettered as (dl-\d+)/);
    const id = /dead-lettered as (dl-\d+)/.exec(failed.message)![1];

    // Even a call grant of '*' does not reach the dead-letter queue without admin: it shows and resends others' payloads.
    await expect(firstValueFrom(caller.requestStream('dlq.list', {}))).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "route 'dlq.list' is not granted to sub:caller (it needs an admin grant)" });
    await expect(caller.requestResponse('dlq.replay', { id })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "route 'dlq.replay' is not granted to sub:caller (it needs an admin grant)" });
    const listed = await firstValueFrom(admin.requestStream<{ id: string }>('dlq.list', {}).pipe(toArray()));
    expect(listed.map((e) => e.id)).toEqual([id]);

    // The replay enters through the gateway's own loopback connection, whose internal principal may call ctl.op
    // although the admin's grant may not.
    const received: unknown[] = [];
    await tokenService(h, gw.url, await mint('ctl', { service: 'ctl', register: ['ctl.*'] }), 'ctl', 'ctl-1', {
      'ctl.op': { idempotent: true, requestResponse: (d: unknown) => (received.push(d), { ok: true }) },
    });
    const replay = await admin.requestResponse<{ replayed: number }>('dlq.replay', { id });
    expect(replay.replayed).toBe(1);
    expect(received).toEqual([{ n: 1 }]);
    await expect(admin.requestResponse('ctl.op', { n: 2 })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });
});

describe('JWKS', () => {
  it('verifies RS256 tokens against a JWKS file; a token signed by another key is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-jwks-'));
    h.onCleanup(() => rm(dir, { recursive: true, force: true }));
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const stranger = await generateKeyPair('RS256');
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'gw-1', alg: 'RS256', use: 'sig' }] }));
    const gw = await h.gateway({ auth: { jwksFile, anonymous: { enabled: false } } });
    expect((await refused(gw.url, [])).message).toMatch(/^a bearer token is required/);
    const sign = (key: CryptoKey, grant: object) => new SignJWT({ sluice: grant }).setProtectedHeader({ alg: 'RS256', kid: 'gw-1' }).setSubject('svc').sign(key);
    await tokenService(h, gw.url, await sign(privateKey, { service: 'bench', register: ['bench.*'], call: ['bench.*'] }), 'bench', 'bench-1', benchRoutes());
    const client = await h.client(gw.url, { setupMetadata: withToken(await sign(privateKey, { call: ['bench.echo'] })) });
    expect(await client.requestResponse('bench.echo', 'rs')).toBe('rs');
    const err = await refused(gw.url, withToken(await sign(stranger.privateKey, { call: ['*'] })));
    expect({ code: err.code, message: err.message }).toEqual({ code: 'UNAUTHENTICATED', message: 'token has a bad signature' });
  });
});

describe('open mode', () => {
  it('refuses to start on a non-loopback address unless allowAnonymous is set', async () => {
    await expect(createGateway({ listen: { host: '0.0.0.0', port: 0 }, admin: { enabled: false }, logging: { level: 'silent' } })).rejects.toThrow(ConfigError);
    await expect(createGateway({ listen: { host: '0.0.0.0', port: 0 }, admin: { enabled: false }, logging: { level: 'silent' } })).rejects.toThrow(
      /config 'listen.host': 0.0.0.0 is not a loopback address and auth is off/,
    );
  });

  it('gives every connection the full grant, as before auth existed', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const client = await h.client(gw.url);
    expect(await client.requestResponse('bench.echo', 'open')).toBe('open');
  });
});

describe('sluice gateway flags', () => {
  it('--auth-secret-file, --anonymous-call and --no-anonymous configure a gateway process', async () => {
    const secret = await secretFile(h);
    const child = startChild({ name: 'gateway', args: ['gateway', '--port', '0', '--admin-port', '0', '--auth-secret-file', secret, '--anonymous-call', 'bench.echo'], env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
    h.onCleanup(() => child.stop(2_000));
    const { url } = await child.message<{ url: string }>('listening', 20_000);
    await tokenService(h, url, await mint('bench', { service: 'bench', register: ['bench.*'] }), 'bench', 'bench-1', benchRoutes());
    expect((await refused(url, withToken(await mint('bench', {}, { secret: 'not-the-secret-not-the-secret-not-the' })))).message).toBe('token has a bad signature');
    const anon = await h.client(url);
    expect(await anon.requestResponse('bench.echo', 'anon')).toBe('anon');
    await expect(anon.requestResponse('bench.stats', { id: 'x' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: "route 'bench.stats' is not granted to anonymous:127.0.0.1" });

    const closed = startChild({ name: 'gateway', args: ['gateway', '--port', '0', '--admin-port', '0', '--auth-secret-file', secret, '--no-anonymous'], env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
    h.onCleanup(() => closed.stop(2_000));
    const second = await closed.message<{ url: string }>('listening', 20_000);
    expect((await refused(second.url, [])).message).toMatch(/^a bearer token is required/);
  });

  it('without auth, --host 0.0.0.0 stops the process naming the reason', async () => {
    const child = startChild({ name: 'gateway', args: ['gateway', '--host', '0.0.0.0', '--port', '0', '--admin-port', '0'], env: { SLUICE_LOG_LEVEL: 'silent' } }, 'pipe');
    let stderr = '';
    child.process.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.process.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain("config 'listen.host': 0.0.0.0 is not a loopback address and auth is off");
  });
});
