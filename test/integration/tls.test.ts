/**
 * TLS end to end with a certificate made in the test: wss:// and tls://
 * round trips for a client and a registered service, https on the admin
 * server, and the clear failures: a client that does not trust the
 * certificate, plain text to a TLS port, unreadable certificate files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import { loadtestDefaults } from '../../src/loadtest/options.js';
import { runLoadtest } from '../../src/loadtest/run.js';
import { useHarness } from '../helpers/harness.js';

const h = useHarness();
let dir: string;
let cert: string;
let certFile: string;
let keyFile: string;

beforeAll(async () => {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  dir = await mkdtemp(join(tmpdir(), 'sluice-tls-'));
  cert = pems.cert;
  certFile = join(dir, 'cert.pem');
  keyFile = join(dir, 'key.pem');
  await writeFile(certFile, pems.cert);
  await writeFile(keyFile, pems.private);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tlsGateway = () => h.gateway({ tls: { certFile, keyFile }, listen: { tcpPort: 0 } });

function httpsStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).once('error', reject);
  });
}

describe('TLS', () => {
  it('wss://: a service registers and a client calls it, both trusting the certificate through tls.ca', async () => {
    const gw = await tlsGateway();
    expect(gw.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    await h.service({ url: gw.url, service: 'bench', tls: { ca: cert } });
    const client = await h.client(gw.url, { tls: { ca: cert } });
    expect(await client.requestResponse('bench.echo', { over: 'wss' })).toEqual({ over: 'wss' });
  });

  it('tls://: a service registers and a client calls it over TLS on the TCP listener', async () => {
    const gw = await tlsGateway();
    expect(gw.tcp!.url).toBe(`tls://127.0.0.1:${gw.tcp!.port}`);
    await h.service({ url: gw.tcp!.url, service: 'bench', tls: { ca: cert } });
    const client = await h.client(gw.tcp!.url, { tls: { ca: cert } });
    expect(await client.requestResponse('bench.echo', { over: 'tls' })).toEqual({ over: 'tls' });
  });

  it('sluice loadtest runs over tls:// trusting the certificate through --ca, and reads memory from the https admin', async () => {
    const gw = await tlsGateway();
    await h.service({ url: gw.url, service: 'bench', tls: { ca: cert } });
    const report = await runLoadtest(
      { ...loadtestDefaults, url: gw.tcp!.url, adminUrl: gw.adminUrl!, mode: 'rr', route: 'bench.echo', producers: 2, rate: 200, count: 100, durationS: 30 },
      { ca: Buffer.from(cert), memoryIntervalMs: 100 },
    );
    expect(report.errors).toEqual({});
    expect(report.completed).toBe(100);
    expect(report.gatewayMemory.available).toBe(true);
  });

  it('the admin server serves https with the same certificate, unless admin.tls is false', async () => {
    const gw = await tlsGateway();
    expect(gw.adminUrl).toMatch(/^https:\/\//);
    expect(await httpsStatus(`${gw.adminUrl}/healthz`, cert)).toBe(200);
    const plainAdmin = await h.gateway({ tls: { certFile, keyFile }, admin: { tls: false } });
    expect(plainAdmin.adminUrl).toMatch(/^http:\/\//);
    expect((await fetch(`${plainAdmin.adminUrl}/healthz`)).status).toBe(200);
  });

  it('a client that does not trust the certificate is refused with UNAVAILABLE saying so, over wss:// and tls://', async () => {
    const gw = await tlsGateway();
    for (const url of [gw.url, gw.tcp!.url]) {
      const err = await h.client(url).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/self[- ]signed certificate.*not trusted: pass its CA, tls: \{ ca \} or --ca FILE/) });
    }
  });

  it('plain ws:// and tcp:// to the TLS ports fail cleanly, and the gateway keeps serving', async () => {
    const gw = await tlsGateway();
    await h.service({ url: gw.url, service: 'bench', tls: { ca: cert } });
    for (const url of [gw.url.replace(/^wss:/, 'ws:'), gw.tcp!.url.replace(/^tls:/, 'tcp:')]) {
      const err = await h.client(url, { connectTimeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    }
    const client = await h.client(gw.url, { tls: { ca: cert } });
    expect(await client.requestResponse('bench.echo', { still: 'ok' })).toEqual({ still: 'ok' });
  });

  it('unreadable or mismatched certificate files stop the gateway with a ConfigError naming the key', async () => {
    const missing = await createGateway({ tls: { certFile: join(dir, 'nope.pem'), keyFile }, listen: { port: 0 }, admin: { enabled: false }, logging: { level: 'silent' } }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing).toMatchObject({ key: 'tls.certFile', message: expect.stringMatching(/cannot read .*nope\.pem/) });
    const swapped = await createGateway({ tls: { certFile: keyFile, keyFile: certFile }, listen: { port: 0 }, admin: { enabled: false }, logging: { level: 'silent' } }).catch((e: unknown) => e);
    expect(swapped).toMatchObject({ name: 'ConfigError', key: 'tls.keyFile' });
  });
});
