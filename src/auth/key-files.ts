/**
 * Reads the gateway's verification keys from files at start-up (the secret or
 * JWKS never travels in config or on the command line, where `ps` and logs
 * would show it). A file that is missing or unusable fails start-up with a
 * ConfigError naming the key. Node only.
 */
import { readFile } from 'node:fs/promises';
import { importJWK, type JSONWebKeySet, type JWK } from 'jose';
import { ConfigError } from '../config-error.js';
import type { AuthConfig } from '../config.js';
import { readSecretFile } from './secret-file.js';
import { createTokenVerifier, type TokenVerifier } from './verifier.js';

/** A JWKS file's key set (`{"keys": [...]}`). */
export async function readJwksFile(path: string, key = 'auth.jwksFile'): Promise<JSONWebKeySet> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(key, `cannot read ${path} as JSON: ${(err as Error).message}`);
  }
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null)) {
    throw new ConfigError(key, `${path} must be a JWKS: {"keys": [<JWK>, ...]} with at least one key`);
  }
  // A key jose cannot use would otherwise surface only when a token names it, as a confusing refusal.
  for (const [i, jwk] of (keys as JWK[]).entries()) {
    if (typeof jwk.kty !== 'string' || jwk.kty === 'oct' || jwk.d !== undefined) {
      throw new ConfigError(key, `${path}: keys[${i}] must be a public key (kty RSA, EC or OKP, no private part)`);
    }
    try {
      await importJWK(jwk, jwk.alg ?? (jwk.kty === 'RSA' ? 'RS256' : jwk.kty === 'EC' ? `ES${jwk.crv === 'P-384' ? 384 : jwk.crv === 'P-521' ? 512 : 256}` : 'EdDSA'));
    } catch (err) {
      throw new ConfigError(key, `${path}: keys[${i}] is not a usable key: ${(err as Error).message}`);
    }
  }
  return json as JSONWebKeySet;
}

/** A verifier over the key files that can read them again (key rotation without a restart). */
export interface ReloadableVerifier extends TokenVerifier {
  /**
   * Reads the key files again and verifies new tokens with them. On a bad
   * file it throws the ConfigError and keeps the keys it had. Connections
   * already accepted keep their principal until they close or expire.
   */
  reload(): Promise<void>;
}

/** The verifier the `auth` config describes, or undefined in open mode (no secret and no JWKS). */
export async function loadTokenVerifier(auth: AuthConfig): Promise<ReloadableVerifier | undefined> {
  if (auth.secretFile === null && auth.jwksFile === null) return undefined;
  let current = await readVerifier(auth);
  return {
    verify: (token) => current.verify(token),
    async reload() {
      current = await readVerifier(auth);
    },
  };
}

async function readVerifier(auth: AuthConfig): Promise<TokenVerifier> {
  const secret = auth.secretFile !== null ? await readSecretFile(auth.secretFile, 'auth.secretFile') : undefined;
  const jwks = auth.jwksFile !== null ? await readJwksFile(auth.jwksFile) : undefined;
  return createTokenVerifier({
    ...(secret ? { secret } : {}),
    ...(jwks ? { jwks } : {}),
    ...(auth.issuer !== null ? { issuer: auth.issuer } : {}),
    ...(auth.audience !== null ? { audience: auth.audience } : {}),
    clockSkewMs: auth.clockSkewMs,
  });
}
