/**
 * Token verification without sockets: every way a token can be refused
 * names its reason, and a good token becomes the Principal its claims say.
 */
import { describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenVerifier, grantOf } from '../../src/auth/verifier.js';
import { readJwksFile } from '../../src/auth/key-files.js';
import { readSecretFile } from '../../src/auth/secret-file.js';
import { bearerEntry, readBearer } from '../../src/auth/bearer.js';
import { Access, registrationRefusal } from '../../src/auth/permissions.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { SluiceError } from '../../src/errors.js';
import { ConfigError } from '../../src/config.js';

const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
const now = () => Math.floor(Date.now() / 1000);

function sign(claims: Record<string, unknown>, o: { key?: Uint8Array; exp?: number; nbf?: number; iss?: string; aud?: string } = {}) {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (o.exp !== undefined) jwt = jwt.setExpirationTime(o.exp);
  if (o.nbf !== undefined) jwt = jwt.setNotBefore(o.nbf);
  if (o.iss) jwt = jwt.setIssuer(o.iss);
  if (o.aud) jwt = jwt.setAudience(o.aud);
  return jwt.sign(o.key ?? secret);
}

async function refusal(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SluiceError);
  expect((err as SluiceError).code).toBe('UNAUTHENTICATED');
  return err as SluiceError;
}

describe('createTokenVerifier (HS256)', () => {
  const verifier = createTokenVerifier({ secret, clockSkewMs: 0, issuer: 'sluice-test', audience: 'gateway' });
  const ok = { iss: 'sluice-test', aud: 'gateway' };

  it('turns a good token into the principal of its sub and grant', async () => {
    const exp = now() + 60;
    const token = await sign({ sub: 'payment', sluice: { call: ['inventory.*'], service: 'payment', register: ['payment.*'], admin: false } }, { ...ok, exp });
    expect(await verifier.verify(token)).toEqual({
      id: 'sub:payment',
      subject: 'payment',
      anonymous: false,
      grant: { call: ['inventory.*'], service: 'payment', register: ['payment.*'], admin: false },
      expiresAt: exp * 1000,
    });
  });

  it('a token without a sluice claim grants nothing', async () => {
    const p = await verifier.verify(await sign({ sub: 'nobody' }, ok));
    expect(p.grant).toEqual({ call: [], service: undefined, register: [], admin: false });
    expect(p.expiresAt).toBeUndefined();
  });

  it('refuses each bad token saying which check failed', async () => {
    expect((await refusal(verifier.verify(await sign({ sub: 'a' }, { ...ok, exp: now() - 10 })))).message).toMatch(/^token expired at \d{4}-\d\d-\d\dT/);
    expect((await refusal(verifier.verify(await sign({ sub: 'a' }, { ...ok, nbf: now() + 600 })))).message).toMatch(/^token not yet valid \(nbf /);
    expect((await refusal(verifier.verify(await sign({ sub: 'a' }, { ...ok, key: new TextEncoder().encode('another secret of at least 32 bytes!') })))).message).toBe('token has a bad signature');
    expect((await refusal(verifier.verify(await sign({ sub: 'a' }, { iss: 'evil', aud: 'gateway' })))).message).toBe('token from unknown issuer "evil"');
    expect((await refusal(verifier.verify(await sign({ sub: 'a' }, { iss: 'sluice-test', aud: 'other' })))).message).toBe('token for unknown audience "other"');
    expect((await refusal(verifier.verify(await sign({}, ok)))).message).toBe("token has no 'sub' claim");
    expect((await refusal(verifier.verify('not.a.jwt'))).message).toMatch(/^malformed token: /);
    expect((await refusal(verifier.verify('garbage'))).message).toMatch(/^malformed token: /);
    const none = `${btoa(JSON.stringify({ alg: 'none' })).replace(/=+$/, '')}.${btoa(JSON.stringify({ sub: 'a' })).replace(/=+$/, '')}.`;
    expect((await refusal(verifier.verify(none))).message).toMatch(/^token algorithm "none" is not accepted/);
  });

  it('tolerates clock skew as configured', async () => {
    const lenient = createTokenVerifier({ secret, clockSkewMs: 60_000 });
    expect((await lenient.verify(await sign({ sub: 'a' }, { exp: now() - 10 }))).subject).toBe('a');
  });

  it('a malformed sluice claim is UNAUTHENTICATED naming the field', async () => {
    const bad = async (sluice: unknown) => (await refusal(verifier.verify(await sign({ sub: 'a', sluice }, ok)))).message;
    expect(await bad({ call: ['ok', 'bad pattern'] })).toBe("token claim 'sluice.call[1]' is not a route pattern (a route, a prefix such as 'bench.*', or '*')");
    expect(await bad({ call: 'x' })).toMatch(/^token claim 'sluice.call' must be an array/);
    expect(await bad({ admin: 'yes' })).toBe("token claim 'sluice.admin' must be a boolean");
    expect(await bad({ service: '' })).toMatch(/^token claim 'sluice.service' must be a service name/);
    expect(await bad({ register: ['a.*'] })).toBe("token claim 'sluice.register' needs 'sluice.service'");
    expect(await bad([1])).toBe("token claim 'sluice' must be an object");
  });

  it('refuses to build without a key or with a short secret', () => {
    expect(() => createTokenVerifier({})).toThrow('a secret or a JWKS is required');
    expect(() => createTokenVerifier({ secret: new Uint8Array(8) })).toThrow('at least 32 bytes');
  });
});

describe('createTokenVerifier (JWKS)', () => {
  it('verifies ES256 tokens against a JWKS file and refuses a key it does not hold', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-jwks-'));
    try {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const other = await generateKeyPair('ES256');
      const path = join(dir, 'jwks.json');
      await writeFile(path, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
      const verifier = createTokenVerifier({ jwks: await readJwksFile(path), clockSkewMs: 0 });
      const token = await new SignJWT({ sub: 'order', sluice: { call: ['payment.*'] } }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
      expect((await verifier.verify(token)).grant.call).toEqual(['payment.*']);
      const forged = await new SignJWT({ sub: 'order' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(other.privateKey);
      expect((await refusal(verifier.verify(forged))).message).toBe('token has a bad signature');
      const unknownKid = await new SignJWT({ sub: 'order' }).setProtectedHeader({ alg: 'ES256', kid: 'k9' }).sign(other.privateKey);
      expect((await refusal(verifier.verify(unknownKid))).message).toBe('token is signed by a key that is not in the JWKS');
      // An HS256 token is refused when only a JWKS is configured (no algorithm confusion).
      expect((await refusal(verifier.verify(await sign({ sub: 'a' })))).message).toMatch(/^token algorithm "HS256" is not accepted/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('key files', () => {
  it('reads a secret file without its trailing newline and refuses a short or missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-secret-'));
    try {
      await writeFile(join(dir, 's'), '0123456789abcdef0123456789abcdef\n');
      expect(new TextDecoder().decode(await readSecretFile(join(dir, 's'), 'auth.secretFile'))).toBe('0123456789abcdef0123456789abcdef');
      await writeFile(join(dir, 'short'), 'short\n');
      await expect(readSecretFile(join(dir, 'short'), 'auth.secretFile')).rejects.toThrow(ConfigError);
      await expect(readSecretFile(join(dir, 'short'), 'auth.secretFile')).rejects.toThrow("config 'auth.secretFile'");
      await expect(readSecretFile(join(dir, 'missing'), 'auth.secretFile')).rejects.toThrow('cannot be read');
      await expect(readSecretFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await writeFile(join(dir, 'j'), '{"keys": []}');
      await expect(readJwksFile(join(dir, 'j'))).rejects.toThrow("config 'auth.jwksFile'");
      await writeFile(join(dir, 'k'), JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
      await expect(readJwksFile(join(dir, 'k'))).rejects.toThrow('keys[0] must be a public key');
      await writeFile(join(dir, 'e'), JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }] }));
      await expect(readJwksFile(join(dir, 'e'))).rejects.toThrow('keys[0] is not a usable key');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bearer entries', () => {
  it('round-trips a token and refuses other auth types with UNAUTHENTICATED', () => {
    expect(readBearer([bearerEntry('abc.def.ghi')])).toBe('abc.def.ghi');
    expect(readBearer([])).toBeUndefined();
    const entry = (bytes: number[]) => [{ mimeType: MimeTypes.AUTHENTICATION, content: Uint8Array.from(bytes) }];
    expect(() => readBearer(entry([0x80, 0, 1, 0x61, 0x62]))).toThrow('simple (user/password) authentication is not supported');
    expect(() => readBearer(entry([]))).toThrow('the authentication entry is empty');
    expect(() => readBearer(entry([0x81]))).toThrow('the bearer token is empty');
    expect(() => readBearer(entry([0x03, 0x61]))).toThrow('custom authentication types are not supported');
    expect(() => readBearer(entry([0x81, 0xff, 0xfe]))).toThrow('not valid UTF-8');
    expect(() => readBearer([bearerEntry('x'.repeat(8193))])).toThrow('over the 8192-byte limit');
  });
});

describe('permissions', () => {
  const principal = (grant: Partial<ReturnType<typeof grantOf>>, anonymous = false) => ({
    id: anonymous ? 'anonymous:127.0.0.1' : 'sub:payment',
    subject: anonymous ? 'anonymous' : 'payment',
    anonymous,
    grant: { ...grantOf(undefined), ...grant },
    expiresAt: undefined,
  });

  it('matches calls through the compiled patterns', () => {
    const a = new Access(principal({ call: ['inventory.*', 'orders.get'] }));
    expect(['inventory.reserve', 'orders.get'].map((r) => a.mayCall(r))).toEqual([true, true]);
    expect(['inventory', 'orders.watch', 'payment.refund'].map((r) => a.mayCall(r))).toEqual([false, false, false]);
  });

  it('lets a principal register only its service and granted routes, never anonymously', () => {
    const reg = { service: 'payment', instance: 'payment-1', routes: [{ name: 'payment.authorize', idempotent: true }, { name: 'payment.refund', idempotent: true }] };
    expect(registrationRefusal(principal({ service: 'payment', register: ['payment.*'] }), reg)).toBeUndefined();
    expect(registrationRefusal(principal({ service: 'payment', register: ['payment.authorize'] }), reg)).toBe("registration: route 'payment.refund' is not granted to sub:payment for registration");
    expect(registrationRefusal(principal({ service: 'order', register: ['*'] }), reg)).toBe("registration: service 'payment' is not granted to sub:payment (its grant names 'order')");
    expect(registrationRefusal(principal({ call: ['*'] }), reg)).toBe("registration: service 'payment' is not granted to sub:payment (its grant names no service)");
    expect(registrationRefusal(principal({ service: 'payment', register: ['*'] }, true), reg)).toMatch(/^registration: anonymous connections may not register services/);
  });
});
