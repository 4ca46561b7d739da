/**
 * Tokens from the client side against a gateway that verifies them, over real
 * WebSocket and TCP sockets: a valid token connects, a bad one rejects
 * connect() with UNAUTHENTICATED (never "connected"), a token provider keeps
 * the connection alive past its first token's expiry by METADATA_PUSH while
 * a fixed token's connection is ended, services register with their token,
 * and `sluice token` mints what the gateway accepts.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionStatus } from '../../src/client/connect.js';
import { tokenExpiry } from '../../src/client/token.js';
import { mintToken } from '../../src/auth/mint.js';
import type { GatewayOptions } from '../../src/config.js';
import { SLUICE_BIN } from '../../examples/checkout/src/supervisor.js';
import { eventually, useHarness } from '../helpers/harness.js';

const run = promisify(execFile);
const secret = new TextEncoder().encode('integration-test-secret-0123456789abcdef');
const otherSecret = new TextEncoder().encode('a-different-secret-0123456789abcdef-xyz');
let dir: string;
let secretFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-auth-clients-'));
  secretFile = join(dir, 'secret');
  await writeFile(secretFile, secret, { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Gateway options with auth on: no anonymous calls, and no clock skew so that expiry is exact. */
function withAuth(extra: Record<string, unknown> = {}): GatewayOptions {
  return { auth: { secretFile, clockSkewMs: 0, anonymous: { enabled: true, call: [] }, ...extra } } as unknown as GatewayOptions;
}

const caller = (ttlMs = 3_600_000, s = secret) => mintToken({ secret: s, subject: 'alice', grant: { call: ['bench.*'] }, ttlMs });
const benchService = () => mintToken({ secret, subject: 'bench', grant: { service: 'bench', register: ['bench.*'] }, ttlMs: 3_600_000 });

describe('clients with tokens against a verifying gateway', () => {
  const h = useHarness();

  it('a valid token connects over WebSocket and TCP and calls what it grants', async () => {
    const gw = await h.gateway({ ...withAuth(), listen: { tcpPort: 0 } });
    await h.service({ url: gw.url, service: 'bench', token: await benchService() });
    for (const url of [gw.url, `tcp://127.0.0.1:${gw.tcp!.port}`]) {
      const client = await h.client(url, { token: await caller() });
      expect(await client.requestResponse('bench.echo', { via: url })).toEqual({ via: url });
    }
  });

  it('a token signed with another secret rejects connect() with UNAUTHENTICATED and never reports connected', async () => {
    const gw = await h.gateway(withAuth());
    const statuses: ConnectionStatus[] = [];
    const err = await h.client(gw.url, { token: await caller(3_600_000, otherSecret), onStatus: (s) => statuses.push(s) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SluiceError', code: 'UNAUTHENTICATED' });
    expect(statuses).toEqual([]);
    // With reconnect on and a fixed token, it gives up at once: the same token would be refused again.
    const failed = await h.client(gw.url, { token: await caller(3_600_000, otherSecret), reconnect: { initialDelayMs: 10, maxDelayMs: 10 } }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('a token provider keeps the connection open past the first token expiry; a fixed token is cut off', async () => {
    const gw = await h.gateway(withAuth());
    await h.service({ url: gw.url, service: 'bench', token: await benchService() });
    const issued: string[] = [];
    const provider = async () => {
      const t = await caller(3_000);
      issued.push(t);
      return t;
    };
    const refreshed = await h.client(gw.url, { token: provider });
    const fixedStatus: ConnectionStatus[] = [];
    const fixed = await h.client(gw.url, { token: await caller(3_000), onStatus: (s) => fixedStatus.push(s) });
    const firstExpiry = tokenExpiry(issued[0]!)!;
    // Wait for the clock, not for a guess: until well past the first token's exp.
    await eventually(() => Date.now() > firstExpiry + 1_000, 'the first token to expire', 400, 25);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect(refreshed.connected).toBe(true);
    expect(await refreshed.requestResponse('bench.echo', 'still here')).toBe('still here');
    // The control: without a provider nothing refreshed it, and the gateway ended it.
    await eventually(() => fixedStatus.find((s) => s.state === 'disconnected'), 'the fixed-token connection to end');
    expect(fixed.connected).toBe(false);
    expect(fixedStatus.find((s) => s.state === 'disconnected')).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  }, 20_000);

  it('a service registers with its token, and not without one', async () => {
    const gw = await h.gateway(withAuth());
    const svc = await h.service({ url: gw.url, service: 'bench', instance: 'bench-auth', token: await benchService() });
    expect(svc.connected).toBe(true);
    const client = await h.client(gw.url, { token: await caller() });
    expect(await client.requestResponse('bench.echo', 1)).toBe(1);
    await expect(h.service({ url: gw.url, service: 'bench', instance: 'bench-anon', reconnect: { maxAttempts: 1 } })).rejects.toMatchObject({ code: expect.stringMatching(/^(REJECTED_SETUP|UNAUTHENTICATED)$/) });
  });

  it('an anonymous client calls what the anonymous grant allows, and is refused the rest with PERMISSION_DENIED', async () => {
    const gw = await h.gateway(withAuth({ anonymous: { enabled: true, call: ['bench.echo'] } }));
    await h.service({ url: gw.url, service: 'bench', token: await benchService() });
    const anonymous = await h.client(gw.url);
    expect(await anonymous.requestResponse('bench.echo', 'hi')).toBe('hi');
    await expect(anonymous.requestResponse('bench.stats', {})).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('bench.stats') });
  });
});

describe('sluice token', () => {
  const h = useHarness();

  it('prints a token the gateway accepts, granting exactly what the flags say', async () => {
    const { stdout } = await run(process.execPath, [SLUICE_BIN, 'token', '--secret-file', secretFile, '--sub', 'alice', '--call', 'bench.echo', '--ttl', '15m']);
    const jwt = stdout.trim();
    const { payload } = await jwtVerify(jwt, secret);
    expect(payload).toMatchObject({ sub: 'alice', sluice: { call: ['bench.echo'] } });
    expect(payload.exp! - payload.iat!).toBe(900);

    const gw = await h.gateway(withAuth());
    await h.service({ url: gw.url, service: 'bench', token: await benchService() });
    // Through the CLI as a user would: the token from a file.
    const tokenFile = join(dir, 'alice.jwt');
    await writeFile(tokenFile, stdout, { mode: 0o600 });
    const echoed = await run(process.execPath, [SLUICE_BIN, 'call', 'bench.echo', '{"a":1}', '--url', gw.url, '--token-file', tokenFile]);
    expect(JSON.parse(echoed.stdout)).toEqual({ a: 1 });
    const denied = await run(process.execPath, [SLUICE_BIN, 'call', 'bench.stats', '{}', '--url', gw.url], { env: { ...process.env, SLUICE_TOKEN: jwt } }).catch((e: { stderr: string; code: number }) => e);
    expect(denied).toMatchObject({ code: 1, stderr: expect.stringContaining('PERMISSION_DENIED') });
  }, 30_000);

  it("a default operator token the gateway refuses (another demo's) is dropped with a warning; an explicit one fails naming its source", async () => {
    const gw = await h.gateway(withAuth({ anonymous: { enabled: true, call: ['bench.echo'] } }));
    await h.service({ url: gw.url, service: 'bench', token: await benchService() });
    const dataDir = join(dir, 'stale-demo');
    const stale = await mintToken({ secret: otherSecret, subject: 'operator', grant: { call: ['*'], admin: true } });
    await mkdir(join(dataDir, 'gateway'), { recursive: true });
    await writeFile(join(dataDir, 'gateway', 'operator.jwt'), stale, { mode: 0o600 });
    const env = { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_TOKEN: '', SLUICE_TOKEN_FILE: '' };
    const ok = await run(process.execPath, [SLUICE_BIN, 'call', 'bench.echo', '"hi"', '--url', gw.url], { env });
    expect(JSON.parse(ok.stdout)).toBe('hi');
    expect(ok.stderr).toMatch(/warning: the gateway refused the token in .*operator\.jwt/);
    const explicit = await run(process.execPath, [SLUICE_BIN, 'call', 'bench.echo', '"hi"', '--url', gw.url], { env: { ...env, SLUICE_TOKEN: stale } }).catch((e: { code: number; stderr: string }) => e);
    expect(explicit).toMatchObject({ code: 1, stderr: expect.stringMatching(/UNAUTHENTICATED: .*\(token from SLUICE_TOKEN\)/) });
  }, 30_000);

  it('refuses a bad pattern and a short secret, naming them', async () => {
    const bad = await run(process.execPath, [SLUICE_BIN, 'token', '--secret-file', secretFile, '--sub', 'x', '--call', 'pay ment']).catch((e: { stderr: string }) => e);
    expect(bad).toMatchObject({ stderr: expect.stringContaining("call pattern 'pay ment'") });
    const short = join(dir, 'short');
    await writeFile(short, 'short');
    const weak = await run(process.execPath, [SLUICE_BIN, 'token', '--secret-file', short, '--sub', 'x']).catch((e: { stderr: string }) => e);
    expect(weak).toMatchObject({ stderr: expect.stringContaining('at least 32') });
  }, 30_000);
});
