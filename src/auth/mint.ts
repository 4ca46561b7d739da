/**
 * Minting development tokens: an HS256 JWT whose `sluice` claim carries a
 * Grant (see grant.ts). What `sluice token` prints and what the demo gives
 * its own services and its operator. Production deployments usually mint
 * elsewhere (an identity provider, a JWKS); the gateway verifies either way.
 */
import { SignJWT } from 'jose';
import { SluiceError } from '../errors.js';
import { MIN_SECRET_BYTES } from './verifier.js';
import { GRANT_CLAIM, isRoutePattern, type Grant } from './grant.js';

/** A service name, as registrations spell it (docs/protocol.md). */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/;

/** Shortest HS256 secret accepted, in bytes (RFC 7518 section 3.2: a key at least as long as the hash). */

/** Longest lifetime a minted token may have: one year, in ms. */
export const MAX_TTL_MS = 365 * 24 * 3600_000;

export interface MintOptions {
  /** HS256 secret, at least MIN_SECRET_BYTES bytes (the same bytes the gateway reads from `--auth-secret-file`). */
  secret: Uint8Array;
  /** The token's `sub`: who holds it (`order`, `operator`, `alice`). */
  subject: string;
  /** What it grants; a missing field grants nothing. `register` needs `service`. */
  grant?: Partial<Grant>;
  /** Lifetime in ms, 1 s to 1 year. Default 12 h. */
  ttlMs?: number;
  /** `iss`, when the gateway checks it. Default none. */
  issuer?: string;
  /** `aud`, when the gateway checks it. Default none. */
  audience?: string;
  /** Epoch ms the token is issued at (tests). Default now. */
  now?: number;
}

export const DEFAULT_TTL_MS = 12 * 3600_000;

/** Signs a token; throws INVALID_ARGUMENT naming the bad option. */
export async function mintToken(o: MintOptions): Promise<string> {
  const bad = (msg: string): never => {
    throw new SluiceError('INVALID_ARGUMENT', msg);
  };
  if (o.secret.length < MIN_SECRET_BYTES) bad(`secret is ${o.secret.length} bytes; HS256 needs at least ${MIN_SECRET_BYTES}`);
  if (typeof o.subject !== 'string' || o.subject.length === 0 || o.subject.length > 255) bad('subject must be 1-255 characters');
  const ttlMs = o.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TTL_MS) bad(`ttl must be from 1s to 365d, got ${ttlMs} ms`);
  const g = o.grant ?? {};
  for (const [field, patterns] of [['call', g.call], ['register', g.register]] as const) {
    for (const p of patterns ?? []) if (!isRoutePattern(p)) bad(`${field} pattern '${String(p)}' is not a route pattern (a route, a prefix ending in '.*', or '*')`);
  }
  if (g.service !== undefined && !SERVICE_NAME.test(g.service)) bad(`service '${g.service}' must be 1-255 characters from [A-Za-z0-9_.:/-] starting with a letter or digit`);
  if (g.register?.length && g.service === undefined) bad('register patterns need a service name to register as');
  // Only what is granted goes in the claim: a missing field grants nothing, and tokens stay small.
  const claim: Record<string, unknown> = {};
  if (g.call?.length) claim.call = [...g.call];
  if (g.service !== undefined) claim.service = g.service;
  if (g.register?.length) claim.register = [...g.register];
  if (g.admin) claim.admin = true;
  const iat = Math.floor((o.now ?? Date.now()) / 1000);
  let jwt = new SignJWT({ [GRANT_CLAIM]: claim })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.subject)
    .setIssuedAt(iat)
    .setExpirationTime(iat + Math.ceil(ttlMs / 1000));
  if (o.issuer !== undefined) jwt = jwt.setIssuer(o.issuer);
  if (o.audience !== undefined) jwt = jwt.setAudience(o.audience);
  return jwt.sign(o.secret);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30s`, `15m`, `12h`, `7d` (or `500ms`) in ms; throws naming the value. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new SluiceError('INVALID_ARGUMENT', `duration '${text}' must be a whole number with a unit: ms, s, m, h or d (e.g. 30s, 15m, 12h, 7d)`);
  return Number(m[1]) * UNITS[m[2]!]!;
}
