/**
 * Minting: a token `sluice token` or the demo signs verifies with jose under
 * the same secret and carries exactly the grant asked for; bad options are
 * refused naming the option; secret files are read and made safely.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken, parseDuration } from '../../src/auth/mint.js';
import { ensureSecretFile, readSecretFile } from '../../src/auth/secret-file.js';

const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'sluice-mint-'));
  dirs.push(d);
  return d;
};

describe('mintToken', () => {
  it('signs HS256 with sub, iat, exp, iss, aud and only the granted fields', async () => {
    const now = Date.UTC(2026, 0, 1);
    const jwt = await mintToken({ secret, subject: 'payment', grant: { service: 'payment', register: ['payment.*'], call: ['inventory.get'] }, ttlMs: 7 * 86_400_000, issuer: 'sluice-demo', audience: 'gw', now });
    const { payload, protectedHeader } = await jwtVerify(jwt, secret, { currentDate: new Date(now), issuer: 'sluice-demo', audience: 'gw' });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'payment', iat: now / 1000, exp: now / 1000 + 7 * 86_400, sluice: { service: 'payment', register: ['payment.*'], call: ['inventory.get'] } });
    expect(payload.sluice).not.toHaveProperty('admin');
  });

  it('admin and call-only grants; nothing granted is an empty claim', async () => {
    expect(decodeJwt(await mintToken({ secret, subject: 'op', grant: { call: ['*'], admin: true } })).sluice).toEqual({ call: ['*'], admin: true });
    expect(decodeJwt(await mintToken({ secret, subject: 'nobody' })).sluice).toEqual({});
  });

  it('does not verify under another secret', async () => {
    const jwt = await mintToken({ secret, subject: 'x' });
    await expect(jwtVerify(jwt, new TextEncoder().encode('another-secret-another-secret-xx'))).rejects.toThrow(/signature/);
  });

  it.each([
    [{ secret: secret.subarray(0, 31) }, /at least 32/],
    [{ subject: '' }, /subject/],
    [{ ttlMs: 999 }, /ttl/],
    [{ ttlMs: 366 * 86_400_000 }, /ttl/],
    [{ grant: { call: ['pay ment'] } }, /call pattern 'pay ment'/],
    [{ grant: { call: ['pay*'] } }, /call pattern/],
    [{ grant: { service: 'p', register: ['bad pattern'] } }, /register pattern/],
    [{ grant: { register: ['payment.*'] } }, /need a service/],
    [{ grant: { service: '-bad' } }, /service '-bad'/],
  ])('refuses %o', async (override, message) => {
    await expect(mintToken({ secret, subject: 'x', ...override })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['7d', 604_800_000],
    ['250ms', 250],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', '1.5h', '-1s', '3w', 'h'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe('secret files', () => {
  it('trailing whitespace is not part of the key; too short is refused naming the file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 's'), '0123456789abcdef0123456789abcdef \r\n');
    expect(await readSecretFile(join(dir, 's'))).toEqual(secret);
    await writeFile(join(dir, 'short'), 'tooshort\n');
    await expect(readSecretFile(join(dir, 'short'))).rejects.toThrow(/short holds 8 bytes/);
    await expect(readSecretFile(join(dir, 'missing'))).rejects.toThrow(/secret file .*missing cannot be read/);
  });

  it('ensureSecretFile creates a random 0600 secret once and keeps it', async () => {
    const path = join(await tempDir(), 'gateway', 'auth-secret');
    const first = await ensureSecretFile(path);
    expect(first.created).toBe(true);
    expect(first.secret.length).toBeGreaterThanOrEqual(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await ensureSecretFile(path);
    expect(again).toEqual({ secret: first.secret, created: false });
    expect(await readFile(path, 'utf8')).toMatch(/^[A-Za-z0-9_-]{64}$/);
  });
});
