import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError, type ErrorCode } from '../../src/errors.js';
import { HTTP_STATUS, problemOf, statusOf } from '../../src/http/problem.js';
import { queryPayload } from '../../src/http/query-payload.js';

const codes = Object.keys(ErrorCodes) as ErrorCode[];

describe('HTTP status of every code', () => {
  // A code added to ErrorCodes without a status, or without a row in the HTTP bridge table of docs/protocol.md, fails here.
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('HTTP bridge')) ?? '';
  const table = section.split(/^### /m).find((s) => s.startsWith('Status of each code')) ?? '';
  const rows = table
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) => l.split('|').map((c) => c.trim()));

  it.each(codes)('%s has a status and a row with it in docs/protocol.md', (code) => {
    expect(HTTP_STATUS[code]).toBeGreaterThanOrEqual(400);
    const row = rows.find((r) => r[1] === `\`${code}\``);
    expect(row, `docs/protocol.md "## HTTP bridge" / "### Status of each code" has no row for \`${code}\``).toBeDefined();
    expect(row![2]).toContain(String(HTTP_STATUS[code]));
  });

  it('OVERLOADED is 429 for the caller\'s own limit and 503 otherwise', () => {
    expect(statusOf(new SluiceError('OVERLOADED', 'rate', { details: { retryAfterMs: 200 } }))).toBe(429);
    expect(statusOf(new SluiceError('OVERLOADED', 'bulkhead'))).toBe(503);
  });

  it('writes RFC 9457 members plus the code', () => {
    expect(problemOf(new SluiceError('NO_ROUTE', 'no instance serves route \'x\''))).toEqual({
      type: 'urn:sluice:error:NO_ROUTE',
      title: 'Not Found',
      status: 404,
      detail: "no instance serves route 'x'",
      code: 'NO_ROUTE',
    });
  });
});

describe('query payload', () => {
  it('maps parameters to string members, repeated ones to arrays', () => {
    expect(queryPayload(new URLSearchParams('orderId=o-1&tag=a&tag=b&tag=c'))).toEqual({ orderId: 'o-1', tag: ['a', 'b', 'c'] });
    expect(queryPayload(new URLSearchParams(''))).toEqual({});
    expect(JSON.stringify(queryPayload(new URLSearchParams('__proto__=x')))).toBe('{"__proto__":"x"}');
  });

  it('refuses a parameter without a name', () => {
    expect(() => queryPayload(new URLSearchParams('=x'))).toThrow(/empty name/);
  });
});
