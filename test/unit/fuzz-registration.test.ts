/**
 * Property-based tests of service registration, read from a peer's SETUP:
 * any JSON value, any registration entry content and any SETUP metadata
 * bytes give either a valid Registration or a SluiceError the gateway turns
 * into an ERROR frame (REJECTED_SETUP, or INVALID_SETUP for metadata that is
 * not composite metadata), never anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { MimeTypes, encodeComposite } from '../../src/protocol/metadata.js';
import { MAX_ROUTES_PER_INSTANCE, parseRegistration, readRegistration, type Registration } from '../../src/protocol/registration.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/;

/** Names: mostly valid, sometimes empty, too long, or with characters outside the allowed set. */
const name = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,20}$/) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a'.repeat(255), 'a'.repeat(256), ' payment', 'pay ment', '-x', 'ü') },
);
const route = fc.oneof(
  { weight: 6, arbitrary: name },
  { weight: 3, arbitrary: fc.record({ name, idempotent: fc.oneof({ weight: 4, arbitrary: fc.boolean() }, fc.constant(undefined), fc.jsonValue({ maxDepth: 0 })) }, { requiredKeys: ['name'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

/** Registration-shaped objects, mostly valid, with fields missing, mistyped or extra; and arbitrary JSON values. */
const registrationLike = fc.oneof(
  { weight: 5, arbitrary: fc.record({ service: name, instance: name, routes: fc.array(route, { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ service: name, instance: name, routes: fc.array(route, { maxLength: 4 }), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ service: name, instance: name, routes: fc.array(name, { minLength: 250, maxLength: 260 }) }) },
  { weight: 1, arbitrary: fc.record({ service: fc.jsonValue({ maxDepth: 1 }), instance: fc.jsonValue({ maxDepth: 1 }), routes: fc.jsonValue({ maxDepth: 2 }) }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

const isSetupRefusal = (e: unknown, codes: readonly string[]) => e instanceof SluiceError && codes.includes(e.code) && e.message.length > 0;

function expectValid(reg: Registration): void {
  expect(reg.service).toMatch(NAME);
  expect(reg.instance).toMatch(NAME);
  expect(reg.routes.length).toBeGreaterThan(0);
  expect(reg.routes.length).toBeLessThanOrEqual(MAX_ROUTES_PER_INSTANCE);
  for (const r of reg.routes) {
    expect(r.name).toMatch(NAME);
    expect(typeof r.idempotent).toBe('boolean');
  }
}

/** The registration read, or undefined for a plain client; rethrows anything but the allowed refusals. */
function read(fn: () => Registration | undefined, codes: readonly string[]): Registration | undefined {
  try {
    return fn();
  } catch (err) {
    if (!isSetupRefusal(err, codes)) throw err;
    return undefined;
  }
}

describe('registrations from untrusted SETUP metadata', () => {
  it('any JSON value: a valid Registration or REJECTED_SETUP naming the problem', () => {
    let accepted = 0;
    fc.assert(
      fc.property(registrationLike, (json) => {
        const reg = read(() => parseRegistration(json), ['REJECTED_SETUP']);
        if (reg) {
          expectValid(reg);
          accepted++;
        }
      }),
      { numRuns: 2_000 },
    );
    // Both sides of the property are exercised, not only refusals.
    expect(accepted).toBeGreaterThan(100);
  });

  it('any content in the registration entry (JSON text of anything, or bytes): the same', () => {
    const content = fc.oneof(
      registrationLike.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? '')),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(
      fc.property(content, (bytes) => {
        const metadata = encodeComposite([{ mimeType: MimeTypes.REGISTRATION, content: bytes }]);
        const reg = read(() => readRegistration(metadata), ['REJECTED_SETUP']);
        if (reg) expectValid(reg);
      }),
      { numRuns: 1_000 },
    );
  });

  it('any SETUP metadata bytes: no registration, a valid one, INVALID_SETUP or REJECTED_SETUP', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (metadata) => {
        const reg = read(() => readRegistration(metadata), ['INVALID_SETUP', 'REJECTED_SETUP']);
        if (reg) expectValid(reg);
      }),
      { numRuns: 1_000 },
    );
  });
});
