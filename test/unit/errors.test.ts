import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError, WireCode, isErrorCode, isSluiceError, type ErrorCode } from '../../src/errors.js';

const codes = Object.keys(ErrorCodes) as ErrorCode[];
const hex3 = (n: number) => `0x${n.toString(16).padStart(3, '0')}`;

describe('SluiceError', () => {
  it('carries code, message, cause and details', () => {
    const cause = new Error('root');
    const e = new SluiceError('NO_ROUTE', "no instance serves route 'x'", { cause, details: { retryAfterMs: 5 } });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('SluiceError');
    expect(e.code).toBe('NO_ROUTE');
    expect(e.message).toBe("no instance serves route 'x'");
    expect(e.cause).toBe(cause);
    expect(e.details).toEqual({ retryAfterMs: 5 });
    expect('cause' in new SluiceError('INTERNAL', 'x')).toBe(false);
  });

  it('maps codes to the RSocket error codes of the design', () => {
    // DESIGN.md "Errors" and docs/protocol.md; codes added later only need a known wire code (next test).
    expect(ErrorCodes).toMatchObject({
      NO_ROUTE: 0x202,
      OVERLOADED: 0x202,
      CIRCUIT_OPEN: 0x202,
      INVALID_ARGUMENT: 0x201,
      DEADLINE_EXCEEDED: 0x201,
      UNAVAILABLE: 0x201,
      BUFFER_OVERFLOW: 0x201,
      INTERNAL: 0x201,
      DEMAND_EXCEEDED: 0x204,
      PAYLOAD_TOO_LARGE: 0x204,
      PROTOCOL_VIOLATION: 0x101,
      MALFORMED_FRAME: 0x101,
      INVALID_SETUP: 0x001,
      UNSUPPORTED_SETUP: 0x002,
      REJECTED_SETUP: 0x003,
      KEEPALIVE_TIMEOUT: 0x101,
      SLOW_CONSUMER: 0x101,
      CONNECTION_CLOSED: 0x102,
      CANCELED: 0x203,
    });
    const wireCodes: number[] = Object.values(WireCode);
    for (const code of codes) {
      expect(wireCodes, code).toContain(ErrorCodes[code]);
      expect(new SluiceError(code, 'm').wireCode).toBe(ErrorCodes[code]);
    }
  });

  it.each(codes)('%s survives the wire: toWireMessage then fromWire', (code) => {
    const e = new SluiceError(code, `something about ${code}: with a colon`);
    expect(e.toWireMessage()).toBe(`${code}: something about ${code}: with a colon`);
    const back = SluiceError.fromWire(e.wireCode, e.toWireMessage());
    expect([back.code, back.message, back.wireCode]).toEqual([code, e.message, e.wireCode]);
  });

  it('the prefix wins over the wire code, and an empty text survives', () => {
    expect(SluiceError.fromWire(WireCode.APPLICATION_ERROR, 'NO_ROUTE: x').code).toBe('NO_ROUTE');
    const empty = SluiceError.fromWire(0x201, new SluiceError('INTERNAL', '').toWireMessage());
    expect([empty.code, empty.message]).toEqual(['INTERNAL', '']);
    // The space after the colon is optional.
    expect(SluiceError.fromWire(0x201, 'UNAVAILABLE:gone').message).toBe('gone');
  });

  it('an unknown or absent prefix falls back by wire code and keeps the whole message', () => {
    const fallback: Array<[number, ErrorCode]> = [
      [WireCode.INVALID_SETUP, 'INVALID_SETUP'],
      [WireCode.UNSUPPORTED_SETUP, 'UNSUPPORTED_SETUP'],
      [WireCode.REJECTED_SETUP, 'REJECTED_SETUP'],
      [WireCode.REJECTED_RESUME, 'UNSUPPORTED_SETUP'],
      [WireCode.CONNECTION_ERROR, 'PROTOCOL_VIOLATION'],
      [WireCode.CONNECTION_CLOSE, 'CONNECTION_CLOSED'],
      [WireCode.APPLICATION_ERROR, 'INTERNAL'],
      [WireCode.REJECTED, 'OVERLOADED'],
      [WireCode.CANCELED, 'CANCELED'],
      [WireCode.INVALID, 'PROTOCOL_VIOLATION'],
      [0x300, 'INTERNAL'],
      [0xffffffff, 'INTERNAL'],
    ];
    for (const [wire, code] of fallback) {
      for (const message of ['NOT_A_SLUICE_CODE: boom', 'plain text from a foreign peer', 'lower_case: x', '']) {
        const e = SluiceError.fromWire(wire, message);
        expect([wire, e.code, e.message]).toEqual([wire, code, message]);
      }
    }
  });

  it('from() keeps SluiceErrors and wraps anything else as INTERNAL', () => {
    const s = new SluiceError('OVERLOADED', 'busy');
    expect(SluiceError.from(s)).toBe(s);
    const plain = new TypeError('bad');
    const wrapped = SluiceError.from(plain);
    expect([wrapped.code, wrapped.message, wrapped.cause]).toEqual(['INTERNAL', 'bad', plain]);
    const thrown = SluiceError.from('a string');
    expect([thrown.code, thrown.message]).toEqual(['INTERNAL', 'a string']);
    expect(SluiceError.from(undefined).message).toBe('undefined');
  });

  it('isErrorCode and isSluiceError', () => {
    for (const code of codes) expect(isErrorCode(code)).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('NOPE')).toBe(false);
    const e = new SluiceError('CANCELED', 'x');
    expect(isSluiceError(e)).toBe(true);
    expect(isSluiceError(e, 'CANCELED')).toBe(true);
    expect(isSluiceError(e, 'INTERNAL')).toBe(false);
    expect(isSluiceError(new Error('x'))).toBe(false);
  });
});

describe('the error catalogue is documented', () => {
  // In the spirit of fastify's test that every FST_ERR_* code is in the docs:
  // a code added to ErrorCodes without a row in docs/protocol.md fails here.
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Errors'));
  const rows = (section ?? '')
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .map((cells) => ({ first: cells[1] ?? '', wire: cells[2] ?? '', level: cells[3] ?? '' }));
  const rowFor = (code: string) => rows.find((r) => r.first === `\`${code}\``);

  it('docs/protocol.md has an Errors section with a table', () => {
    expect(section).toBeDefined();
    expect(rows.length).toBeGreaterThan(codes.length);
  });

  it.each(codes)('%s is listed in backticks with its RSocket code and level', (code) => {
    const row = rowFor(code);
    expect(row, `docs/protocol.md "## Errors" has no row for \`${code}\``).toBeDefined();
    expect(row!.wire).toContain(hex3(ErrorCodes[code]));
    expect(row!.level).toBe(ErrorCodes[code] <= WireCode.CONNECTION_CLOSE ? 'connection' : 'stream');
  });

  it('the table lists no code that does not exist', () => {
    const listed = rows.map((r) => /^`([A-Z_]+)`$/.exec(r.first)?.[1]).filter((c): c is string => c !== undefined);
    expect(listed.filter((c) => !isErrorCode(c))).toEqual([]);
    expect(new Set(listed).size).toBe(listed.length);
  });
});

describe('retry hints', () => {
  it('a "retry after N ms" in the message comes back as details.retryAfterMs', () => {
    const e = SluiceError.fromWire(0x202, "CIRCUIT_OPEN: circuit open for route 'x' on every instance; retry after 1234 ms");
    expect(e.code).toBe('CIRCUIT_OPEN');
    expect(e.details).toEqual({ retryAfterMs: 1234 });
    expect(SluiceError.fromWire(0x201, 'UNAVAILABLE: down').details).toBeUndefined();
  });
});

describe('SluiceError.withoutStack', () => {
  it('is a full SluiceError with no stack frames, and leaves the stack trace limit as it found it', () => {
    const before = Error.stackTraceLimit;
    const e = SluiceError.withoutStack('CANCELED', 'the requester cancelled', { details: { n: 1 } });
    expect(e).toBeInstanceOf(SluiceError);
    expect(e.code).toBe('CANCELED');
    expect(e.toWireMessage()).toBe('CANCELED: the requester cancelled');
    expect(e.details).toEqual({ n: 1 });
    expect(e.stack ?? '').not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(before);
    expect(new SluiceError('INTERNAL', 'x').stack).toMatch(/\n\s+at /);
  });

  it('errors rebuilt from the wire carry no local stack', () => {
    expect(SluiceError.fromWire(WireCode.APPLICATION_ERROR, 'NO_ROUTE: x').stack ?? '').not.toMatch(/\n\s+at /);
  });
});
