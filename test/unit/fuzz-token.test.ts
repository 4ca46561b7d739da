/**
 * Property-based tests of bearer token verification, the one check between a
 * peer's bytes and its grant: any string, any tampering with a valid token,
 * any claims signed with the right key, and any algorithm trick either give
 * a Principal whose grant is well formed or an UNAUTHENTICATED SluiceError
 * with a message, never anything else and never a grant from a token the
 * gateway did not sign.
 */
import fc from 'fast-check';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { isRoutePattern, type Principal } from '../../src/auth/grant.js';
import { createTokenVerifier } from '../../src/auth/verifier.js';
import { mintToken } from '../../src/auth/mint.js';

const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!');
const otherSecret = new TextEncoder().encode('another-secret-of-at-least-32-bytes!');
const verifier = createTokenVerifier({ secret, clockSkewMs: 0 });

async function outcome(token: string): Promise<Principal | SluiceError> {
  try {
    return await verifier.verify(token);
  } catch (err) {
    // Anything but a coded refusal is a bug: let it fail the property with its own message.
    if (!(err instanceof SluiceError)) throw err;
    return err;
  }
}

function expectRefused(result: Principal | SluiceError): void {
  expect(result).toBeInstanceOf(SluiceError);
  expect((result as SluiceError).code).toBe('UNAUTHENTICATED');
  expect((result as SluiceError).message.length).toBeGreaterThan(0);
}

const b64url = fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/);

describe('token verification under arbitrary input', () => {
  it('refuses any string that is not a token it signed, with UNAUTHENTICATED', async () => {
    const arbitraryToken = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.tuple(b64url, b64url, b64url).map(([a, b, c]) => `${a}.${b}.${c}`),
      fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), b64url).map(
        ([h, p, s]) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.${s}`,
      ),
    );
    await fc.assert(
      fc.asyncProperty(arbitraryToken, async (token) => expectRefused(await outcome(token))),
      { numRuns: 600 },
    );
  });

  it('refuses a valid token once any character of its header or claims is changed', async () => {
    const token = await mintToken({ secret, subject: 'payment', grant: { service: 'payment', register: ['payment.*'], call: ['inventory.*'] }, ttlMs: 3_600_000 });
    const signed = token.slice(0, token.lastIndexOf('.'));
    expect(await outcome(token)).toMatchObject({ id: 'sub:payment' });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: signed.length - 1 }), fc.constantFrom(...'ABCXYZabcxyz0189-_.='), async (at, ch) => {
        fc.pre(signed[at] !== ch);
        const tampered = `${signed.slice(0, at)}${ch}${signed.slice(at + 1)}${token.slice(signed.length)}`;
        expectRefused(await outcome(tampered));
      }),
      { numRuns: 600 },
    );
  });

  it('turns any claims signed with the right key into a well-formed grant, or refuses them naming the claim', async () => {
    const claims = fc.record(
      {
        sub: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 0 })),
        sluice: fc.oneof(
          fc.record({ call: fc.array(fc.oneof(fc.constantFrom('*', 'bench.*', 'orders.get'), fc.string({ maxLength: 10 }))), service: fc.oneof(fc.constantFrom('payment'), fc.string({ maxLength: 10 })), register: fc.array(fc.constantFrom('payment.*', '', '**', 'a.*.b')), admin: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })) }, { requiredKeys: [] }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      },
      { requiredKeys: [] },
    );
    let granted = 0;
    await fc.assert(
      fc.asyncProperty(claims, async (c) => {
        const token = await new SignJWT(c as Record<string, unknown>).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(secret);
        const result = await outcome(token);
        if (result instanceof SluiceError) return expectRefused(result);
        expect(result.id).toBe(`sub:${result.subject}`);
        expect(result.anonymous).toBe(false);
        for (const p of [...result.grant.call, ...result.grant.register]) expect(isRoutePattern(p)).toBe(true);
        if (result.grant.register.length > 0) expect(result.grant.service).toBeDefined();
        expect(typeof result.grant.admin).toBe('boolean');
        granted++;
      }),
      { numRuns: 400 },
    );
    // Both outcomes must occur, or the property says nothing about one of them.
    expect(granted).toBeGreaterThan(20);
  });

  it('refuses unsigned tokens, other algorithms and other keys whatever they claim', async () => {
    const grant = fc.record({ call: fc.constant(['*']), admin: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(grant, fc.constantFrom('none', 'HS384', 'HS512', 'other-key'), async (g, how) => {
        const claims = { sub: 'mallory', sluice: g };
        const token =
          how === 'none'
            ? new UnsecuredJWT(claims).setIssuedAt().setExpirationTime('1h').encode()
            : await new SignJWT(claims)
                .setProtectedHeader({ alg: how === 'other-key' ? 'HS256' : how })
                .setExpirationTime('1h')
                .sign(how === 'other-key' ? otherSecret : secret);
        expectRefused(await outcome(token));
      }),
      { numRuns: 200 },
    );
  });
});
