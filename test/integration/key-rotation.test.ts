/**
 * Rotation without a restart: `gateway.reload()` (SIGHUP for `sluice gateway`)
 * reads the HS256 secret and the TLS certificate again. New connections are
 * judged by the new keys and handshake with the new certificate; connections
 * already accepted keep working; a bad file changes nothing.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import { startChild } from '../../examples/checkout/src/supervisor.js';
import { useHarness } from '../helpers/harness.js';
import { mint, tokenService } from '../helpers/auth.js';

const h = useHarness();
const OLD = 'the-old-secret-the-old-secret-the-old-secret';
const NEW = 'the-new-secret-the-new-secret-the-new-secret';

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-rotate-'));
  h.onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const caller = (secret: string) => mint('shop', { call: ['bench.*'] }, { secret });
const benchToken = (secret: string) => mint('bench', { service: 'bench', register: ['bench.*'] }, { secret });

async function certificate(): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  return { cert: pems.cert, key: pems.private };
}

describe('key and certificate rotation', () => {
  it('reload(): tokens signed with the new secret are accepted, the old secret is refused, open connections keep working', async () => {
    const file = join(await tempDir(), 'secret');
    await writeFile(file, OLD);
    const gw = await h.gateway({ auth: { secretFile: file } });
    await tokenService(h, gw.url, await benchToken(OLD), 'bench', 'bench-1', benchRoutes());
    const before = await h.client(gw.url, { token: await caller(OLD) });
    expect(await before.requestResponse('bench.echo', 1)).toBe(1);

    await writeFile(file, `${NEW}\n`);
    await gw.reload();
    await expect(h.client(gw.url, { token: await caller(OLD) })).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'token has a bad signature' });
    const after = await h.client(gw.url, { token: await caller(NEW) });
    expect(await after.requestResponse('bench.echo', 2)).toBe(2);
    expect(await before.requestResponse('bench.echo', 3)).toBe(3);

    await writeFile(file, 'short');
    await expect(gw.reload()).rejects.toThrow(ConfigError);
    await expect(gw.reload()).rejects.toThrow(/auth\.secretFile.*holds 5 bytes/);
    const still = await h.client(gw.url, { token: await caller(NEW) });
    expect(await still.requestResponse('bench.echo', 4)).toBe(4);
  });

  it('reload(): new TLS handshakes present the renewed certificate', async () => {
    const dir = await tempDir();
    const [first, second] = await Promise.all([certificate(), certificate()]);
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    await writeFile(certFile, first.cert);
    await writeFile(keyFile, first.key);
    const gw = await h.gateway({ tls: { certFile, keyFile }, listen: { tcpPort: 0 } });
    await h.service({ url: gw.url, service: 'bench', tls: { ca: first.cert } });
    const old = await h.client(gw.tcp!.url, { tls: { ca: first.cert } });

    await writeFile(certFile, second.cert);
    await writeFile(keyFile, second.key);
    await gw.reload();
    for (const url of [gw.url, gw.tcp!.url]) {
      await expect(h.client(url, { tls: { ca: first.cert } })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      const renewed = await h.client(url, { tls: { ca: second.cert } });
      expect(await renewed.requestResponse('bench.echo', url)).toBe(url);
    }
    const admin = await fetch(`${gw.adminUrl}/healthz`).catch((err: Error) => err);
    expect(admin).toBeInstanceOf(Error); // the system trusts neither certificate: the admin server is still https
    expect(await old.requestResponse('bench.echo', 'kept')).toBe('kept');
  }, 60_000);

  it('sluice gateway reloads on SIGHUP', async () => {
    const file = join(await tempDir(), 'secret');
    await writeFile(file, OLD);
    const child = startChild({ name: 'gateway', args: ['gateway', '--port', '0', '--admin-port', '0', '--auth-secret-file', file], env: { SLUICE_LOG_LEVEL: 'silent' } }, 'ignore');
    h.onCleanup(() => child.stop(2_000));
    const { url } = await child.message<{ url: string }>('listening', 20_000);
    await writeFile(file, NEW);
    const reloaded = child.message('reloaded', 10_000);
    child.process.kill('SIGHUP');
    await reloaded;
    await tokenService(h, url, await benchToken(NEW), 'bench', 'bench-1', benchRoutes());
    const client = await h.client(url, { token: await caller(NEW) });
    expect(await client.requestResponse('bench.echo', 'rotated')).toBe('rotated');
    await expect(h.client(url, { token: await caller(OLD) })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
