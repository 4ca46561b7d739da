/**
 * Which host names stay on this machine. Used where a setting is only safe on
 * loopback: a gateway without authentication, a load tester's target.
 * Isomorphic: pure string checks, no name resolution.
 */

/** True for `localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped and bracketed). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4 !== null && v4[1] === '127' && v4.slice(1).every((o) => Number(o) <= 255);
}
