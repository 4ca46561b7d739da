/**
 * Who may read the admin server's `/metrics` when it is reachable from other
 * machines: a bearer token, verified like a SETUP token, whose grant has
 * `admin`. Prometheus sends one with `authorization.credentials_file`.
 */
import { SluiceError } from '../errors.js';
import type { TokenVerifier } from '../auth/verifier.js';
import type { AdminRefusal } from './server.js';

/** An `authorize` hook for startAdminServer that accepts only admin tokens. */
export function adminTokenCheck(verifier: TokenVerifier): (authorization: string | undefined) => Promise<AdminRefusal | undefined> {
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { status: 401, message: 'UNAUTHENTICATED: /metrics needs Authorization: Bearer <token> with the admin grant' };
    try {
      const principal = await verifier.verify(match[1]!);
      if (!principal.grant.admin) return { status: 403, message: `PERMISSION_DENIED: ${principal.id} has no admin grant` };
      return undefined;
    } catch (err) {
      return { status: 401, message: err instanceof SluiceError ? `${err.code}: ${err.message}` : 'UNAUTHENTICATED: the token could not be verified' };
    }
  };
}
