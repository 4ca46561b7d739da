/**
 * Bearer token verification: a JWT checked with jose (HS256 with a shared
 * secret, or RS/PS/ES/EdDSA against a local JWKS), its registered claims
 * (`exp`, `nbf`, `iss`, `aud`, within a clock skew) and its `sluice` claim
 * turned into a Grant. The gateway runs it once per connection at SETUP and
 * once per token refresh, never per request. Every failure is an
 * UNAUTHENTICATED SluiceError whose message says which check failed.
 */
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWSHeaderParameters, type JWTPayload, type FlattenedJWSInput } from 'jose';
import { SluiceError } from '../errors.js';
import { isName } from '../protocol/registration.js';
import { GRANT_CLAIM, isRoutePattern, type Grant, type Principal } from './grant.js';

export interface TokenVerifierOptions {
  /** HS256 shared secret (at least 32 bytes). */
  secret?: Uint8Array;
  /** Public keys for asymmetric tokens (RS*, PS*, ES*, EdDSA). At least one of `secret` and `jwks` is required. */
  jwks?: JSONWebKeySet;
  /** Accepted `iss` values; undefined accepts any. */
  issuer?: string | string[];
  /** Accepted `aud` values (the token must name one); undefined accepts any. */
  audience?: string | string[];
  /** Tolerance for `exp` and `nbf`, in ms. Default 30 s. */
  clockSkewMs?: number;
}

export interface TokenVerifier {
  /** The principal a token stands for (`sub:<sub>`). Rejects with UNAUTHENTICATED saying which check failed. */
  verify(token: string): Promise<Principal>;
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Shortest HS256 secret accepted, in bytes (RFC 7518 3.2: at least the hash size). */
export const MIN_SECRET_BYTES = 32;

/** A verifier for the given keys and claim rules. Throws a plain Error when no key is given or the secret is short. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const { secret, jwks } = options;
  if (!secret && !jwks) throw new Error('createTokenVerifier: a secret or a JWKS is required');
  if (secret && secret.length < MIN_SECRET_BYTES) throw new Error(`createTokenVerifier: the HS256 secret must be at least ${MIN_SECRET_BYTES} bytes, got ${secret.length}`);
  const keySet = jwks ? createLocalJWKSet(jwks) : undefined;
  const algorithms = [...(secret ? ['HS256'] : []), ...(keySet ? ASYMMETRIC : [])];
  const key = (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (header.alg === 'HS256' && secret) return secret;
    if (keySet) return keySet(header, token);
    throw new errors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed`);
  };
  const verifyOptions = {
    algorithms,
    clockTolerance: (options.clockSkewMs ?? 30_000) / 1000,
    requiredClaims: ['sub'],
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
  };
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key, verifyOptions));
      } catch (err) {
        throw new SluiceError('UNAUTHENTICATED', describeFailure(err, token, algorithms), { cause: err });
      }
      return principalOf(payload);
    },
  };
}

/** The Principal for verified claims. Throws UNAUTHENTICATED naming a malformed claim. */
export function principalOf(payload: JWTPayload): Principal {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) throw claimError("'sub' must be a string of 1-255 characters");
  return {
    id: `sub:${sub}`,
    subject: sub,
    anonymous: false,
    grant: grantOf(payload[GRANT_CLAIM]),
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  };
}

/** The Grant a `sluice` claim carries (see src/auth/grant.ts); a missing claim grants nothing. Throws UNAUTHENTICATED naming the bad field. */
export function grantOf(claim: unknown): Grant {
  if (claim === undefined) return { call: [], service: undefined, register: [], admin: false };
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) throw claimError(`'${GRANT_CLAIM}' must be an object`);
  const c = claim as Record<string, unknown>;
  const patterns = (field: string): string[] => {
    const v = c[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length > 1024) throw claimError(`'${GRANT_CLAIM}.${field}' must be an array of at most 1024 route patterns`);
    v.forEach((p, i) => {
      if (!isRoutePattern(p)) throw claimError(`'${GRANT_CLAIM}.${field}[${i}]' is not a route pattern (a route, a prefix such as 'bench.*', or '*')`);
    });
    return v as string[];
  };
  if (c.service !== undefined && !isName(c.service)) throw claimError(`'${GRANT_CLAIM}.service' must be a service name (1-255 characters from [A-Za-z0-9_.:/-])`);
  if (c.admin !== undefined && typeof c.admin !== 'boolean') throw claimError(`'${GRANT_CLAIM}.admin' must be a boolean`);
  const register = patterns('register');
  if (register.length > 0 && c.service === undefined) throw claimError(`'${GRANT_CLAIM}.register' needs '${GRANT_CLAIM}.service'`);
  return { call: patterns('call'), service: c.service as string | undefined, register, admin: c.admin === true };
}

function claimError(message: string): SluiceError {
  return new SluiceError('UNAUTHENTICATED', `token claim ${message}`);
}

function describeFailure(err: unknown, token: string, algorithms: readonly string[]): string {
  if (!(err instanceof errors.JOSEError)) return `token could not be verified: ${(err as Error).message}`;
  if (err instanceof errors.JWTExpired) return `token expired at ${isoOf(err.payload.exp)}`;
  if (err instanceof errors.JWTClaimValidationFailed) {
    const p = err.payload;
    switch (err.claim) {
      case 'nbf':
        return `token not yet valid (nbf ${isoOf(p.nbf)})`;
      case 'iss':
        return `token from unknown issuer ${JSON.stringify(p.iss ?? null)}`;
      case 'aud':
        return `token for unknown audience ${JSON.stringify(p.aud ?? null)}`;
      case 'sub':
        return "token has no 'sub' claim";
      default:
        return `token claim '${err.claim}' is invalid (${err.reason})`;
    }
  }
  switch (err.code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'token has a bad signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return `token algorithm ${JSON.stringify(algOf(token))} is not accepted (accepted: ${algorithms.join(', ')})`;
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'token is signed by a key that is not in the JWKS';
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'token matches several keys of the JWKS; give it a kid';
    default:
      return `malformed token: ${err.message}`;
  }
}

function isoOf(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : String(seconds);
}

function algOf(token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}
