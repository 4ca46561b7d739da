/**
 * Bearer tokens on the client side: how a token rides in SETUP (and in a
 * refresh by METADATA_PUSH), and when it expires. The client never verifies
 * a token (it holds no key); it only reads `exp` to know when to ask its
 * provider for the next one. Isomorphic: base64url and UTF-8 by hand, no
 * Buffer.
 */
import { SluiceError } from '../errors.js';
import { encodeComposite } from '../protocol/metadata.js';
import { MAX_TOKEN_BYTES, bearerEntry } from '../auth/bearer.js';

// One encoding of the bearer entry for both sides: the gateway reads what the clients write.
export { MAX_TOKEN_BYTES, bearerEntry };

/**
 * Returns the token to present: called on every (re)connection and before
 * the current token expires. May return a cached token while it is still
 * good; a new one should expire later than the last.
 */
export type TokenProvider = () => string | Promise<string>;

/** A fixed token, or a provider of fresh ones. */
export type TokenSource = string | TokenProvider;

/** The METADATA_PUSH body of a token refresh: composite metadata with exactly one bearer entry. */
export function refreshMetadata(token: string): Uint8Array {
  return encodeComposite([bearerEntry(token)]);
}

/**
 * Asks `source` for a token and checks its shape (a non-empty string of
 * printable ASCII, as JWTs are, at most MAX_TOKEN_BYTES). A failing or
 * misbehaving provider rejects with UNAUTHENTICATED carrying the cause: no
 * credential could be presented.
 */
export async function resolveToken(source: TokenSource): Promise<string> {
  let token: unknown;
  try {
    token = typeof source === 'string' ? source : await source();
  } catch (err) {
    throw new SluiceError('UNAUTHENTICATED', `token provider failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (typeof token !== 'string' || token.length === 0) throw new SluiceError('UNAUTHENTICATED', `token must be a non-empty string, got ${token === '' ? 'an empty string' : typeof token}`);
  if (token.length > MAX_TOKEN_BYTES) throw new SluiceError('UNAUTHENTICATED', `token is ${token.length} bytes, over the ${MAX_TOKEN_BYTES}-byte limit`);
  if (!/^[\x21-\x7e]+$/.test(token)) throw new SluiceError('UNAUTHENTICATED', 'token must be printable ASCII without spaces (a JWT)');
  return token;
}

/**
 * Epoch ms at which a JWT's `exp` says it expires; undefined when `token` is
 * not a JWT, or has no numeric `exp`. Reads the payload only (no
 * verification: the gateway verifies).
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64UrlDecode(parts[1]!)));
  } catch {
    return undefined;
  }
  const exp = (claims as { exp?: unknown } | null)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/** base64url without padding (RFC 7515 section 2) to bytes; throws on any other character. */
export function base64UrlDecode(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new Error('base64url: impossible length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of text) {
    const v = VALUES.get(c);
    if (v === undefined) throw new Error(`base64url: bad character '${c}'`);
    // Only the bits not yet emitted matter (fewer than 14): masking keeps the shift in range.
    acc = ((acc << 6) | v) & 0x3fff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
