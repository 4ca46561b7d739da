import { describe, expect, it } from 'vitest';
import { adminOrigins, originPolicy } from '../../src/transport/origin.js';

describe('originPolicy', () => {
  it('allows requests without an Origin (non-browser clients) and the admin server\'s own origin', () => {
    const p = originPolicy([], 'http://127.0.0.1:7879');
    expect(p.allows(undefined)).toBe(true);
    expect(p.allows('http://127.0.0.1:7879')).toBe(true);
    expect(p.allows('http://localhost:7879')).toBe(true);
    expect(p.allows('http://[::1]:7879')).toBe(true);
  });

  it('refuses every other origin, including other ports and schemes of the same host, and non-URL values', () => {
    const p = originPolicy([], 'http://127.0.0.1:7879');
    for (const o of ['https://evil.example', 'http://127.0.0.1:7880', 'https://127.0.0.1:7879', 'null', '', 'http://127.0.0.1:7879.evil.example']) expect(p.allows(o)).toBe(false);
  });

  it('adds configured origins, compared in their serialised form', () => {
    const p = originPolicy(['https://App.Example:443', 'http://app.example:8080'], undefined);
    expect(p.allows('https://app.example')).toBe(true);
    expect(p.allows('http://app.example:8080')).toBe(true);
    expect(p.allows('http://app.example')).toBe(false);
    expect(p.allowed).toEqual(['https://app.example', 'http://app.example:8080']);
  });

  it("'*' allows any origin", () => {
    const p = originPolicy(['*'], 'http://127.0.0.1:7879');
    expect(p.allows('https://evil.example')).toBe(true);
    expect(p.allowed).toEqual(['*']);
  });

  it('a non-loopback admin host allows only that host; a wildcard one the loopback names (others must be configured)', () => {
    expect(adminOrigins('https://ops.example:7879')).toEqual(['https://ops.example:7879']);
    expect(adminOrigins('http://0.0.0.0:7879')).toEqual(['http://127.0.0.1:7879', 'http://localhost:7879', 'http://[::1]:7879']);
    expect(adminOrigins('https://[::1]:9000')).toEqual(['https://[::1]:9000', 'https://127.0.0.1:9000', 'https://localhost:9000']);
  });
});
