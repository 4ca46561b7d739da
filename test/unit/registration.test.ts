import { describe, expect, it } from 'vitest';
import { SluiceError, type ErrorCode } from '../../src/errors.js';
import { encodeText } from '../../src/protocol/json.js';
import { MimeTypes, encodeComposite, encodeRoutes } from '../../src/protocol/metadata.js';
import { MAX_ROUTES_PER_INSTANCE, parseRegistration, readRegistration, registrationEntry } from '../../src/protocol/registration.js';

const NAME_RULE = 'must be a string of 1-255 characters from [A-Za-z0-9_.:/-] starting with a letter or digit';

function failure(fn: () => unknown): { code: ErrorCode; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    const e = err as SluiceError;
    return { code: e.code, message: e.message };
  }
  throw new Error('expected a SluiceError');
}

const rejected = (message: string) => ({ code: 'REJECTED_SETUP', message: `registration: ${message}` });
const valid = { service: 'payment', instance: 'payment-1', routes: ['payment.authorize'] };

describe('parseRegistration', () => {
  it('normalizes routes: strings are not idempotent, objects say so explicitly', () => {
    expect(
      parseRegistration({ service: 'payment', instance: 'payment-1', routes: ['payment.authorize', { name: 'payment.refund', idempotent: true }, { name: 'payment.get' }] }),
    ).toEqual({
      service: 'payment',
      instance: 'payment-1',
      routes: [
        { name: 'payment.authorize', idempotent: false },
        { name: 'payment.refund', idempotent: true },
        { name: 'payment.get', idempotent: false },
      ],
    });
  });

  it('accepts every allowed character and the 255-character maximum', () => {
    const long = 'a'.repeat(255);
    expect(parseRegistration({ service: '9Az_.:/-', instance: long, routes: [long] }).instance).toBe(long);
  });

  it('refuses anything but a JSON object', () => {
    for (const json of [null, [], 'payment', 3, undefined]) expect(failure(() => parseRegistration(json))).toEqual(rejected('must be a JSON object'));
  });

  it.each(['service', 'instance'] as const)("'%s' must be a valid name", (field) => {
    for (const bad of [undefined, '', '-lead', '.lead', 'a b', 'ü', 'a'.repeat(256), 42, null]) {
      expect(failure(() => parseRegistration({ ...valid, [field]: bad }))).toEqual(rejected(`'${field}' ${NAME_RULE}`));
    }
  });

  it("'routes' must be a non-empty array of at most 256 entries", () => {
    for (const routes of [undefined, [], 'payment.authorize', { name: 'x' }]) {
      expect(failure(() => parseRegistration({ ...valid, routes }))).toEqual(rejected("'routes' must be a non-empty array"));
    }
    const many = Array.from({ length: MAX_ROUTES_PER_INSTANCE + 1 }, (_, i) => `r${i}`);
    expect(failure(() => parseRegistration({ ...valid, routes: many }))).toEqual(rejected("'routes' has 257 entries, at most 256"));
    expect(parseRegistration({ ...valid, routes: many.slice(0, 256) }).routes).toHaveLength(256);
  });

  it('each route entry names its index', () => {
    expect(failure(() => parseRegistration({ ...valid, routes: ['ok', 'not ok'] }))).toEqual(rejected(`'routes[1]' ${NAME_RULE}`));
    expect(failure(() => parseRegistration({ ...valid, routes: ['ok', 7] }))).toEqual(rejected("'routes[1]' must be a string or an object"));
    expect(failure(() => parseRegistration({ ...valid, routes: [null] }))).toEqual(rejected("'routes[0]' must be a string or an object"));
    expect(failure(() => parseRegistration({ ...valid, routes: [{ name: 'a', idempotent: 'yes' }] }))).toEqual(rejected("'routes[0].idempotent' must be a boolean"));
    expect(failure(() => parseRegistration({ ...valid, routes: ['a', { idempotent: true }] }))).toEqual(rejected(`'routes[1].name' ${NAME_RULE}`));
    expect(failure(() => parseRegistration({ ...valid, routes: [{ name: '' }] }))).toEqual(rejected(`'routes[0].name' ${NAME_RULE}`));
  });

  it('checks fields in order: service, instance, routes', () => {
    expect(failure(() => parseRegistration({ service: '', instance: '', routes: [] })).message).toContain("'service'");
    expect(failure(() => parseRegistration({ service: 's', instance: '', routes: [] })).message).toContain("'instance'");
  });
});

describe('readRegistration', () => {
  const setupMetadata = (content: Uint8Array) => encodeComposite([{ mimeType: MimeTypes.REGISTRATION, content }]);

  it('plain clients have none: no metadata, empty metadata, or no registration entry', () => {
    expect(readRegistration(null)).toBeUndefined();
    expect(readRegistration(new Uint8Array(0))).toBeUndefined();
    expect(readRegistration(encodeComposite([{ mimeType: MimeTypes.ROUTING, content: encodeRoutes('x') }]))).toBeUndefined();
  });

  it('reads the entry written by registrationEntry', () => {
    const md = encodeComposite([
      { mimeType: MimeTypes.ROUTING, content: encodeRoutes('x') },
      registrationEntry({ service: 'inventory', instance: 'inv-2', routes: ['inventory.reserve', { name: 'inventory.get', idempotent: true }] }),
    ]);
    expect(readRegistration(md)).toEqual({
      service: 'inventory',
      instance: 'inv-2',
      routes: [
        { name: 'inventory.reserve', idempotent: false },
        { name: 'inventory.get', idempotent: true },
      ],
    });
  });

  it('malformed composite metadata is INVALID_SETUP', () => {
    expect(failure(() => readRegistration(Uint8Array.of(0xfe, 0)))).toEqual({
      code: 'INVALID_SETUP',
      message: `setup metadata: composite metadata: entry '${MimeTypes.ROUTING}' has no length`,
    });
  });

  it('invalid JSON is REJECTED_SETUP naming the parser error', () => {
    const f = failure(() => readRegistration(setupMetadata(encodeText('{"service":'))));
    expect(f.code).toBe('REJECTED_SETUP');
    expect(f.message).toMatch(/^registration: payload data is not valid UTF-8 JSON: .+/);
  });

  it('an empty registration entry is not a JSON object', () => {
    expect(failure(() => readRegistration(setupMetadata(new Uint8Array(0))))).toEqual(rejected('must be a JSON object'));
  });

  it('validation errors of the content come through unchanged', () => {
    expect(failure(() => readRegistration(setupMetadata(encodeText('{"service":"s","instance":"i","routes":[]}'))))).toEqual(rejected("'routes' must be a non-empty array"));
  });
});
