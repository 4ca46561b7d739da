/**
 * What a principal may do, asked on the hot path: a compiled matcher over the
 * grant's call patterns (no token work per request), the rule for gateway
 * admin routes, and the registration rule checked at SETUP and on refresh.
 */
import { SluiceError } from '../errors.js';
import type { Registration } from '../protocol/registration.js';
import { RoutePatterns, type Grant, type Principal } from './grant.js';

/** Everything: the grant of every connection when auth is off (open mode), and of nothing else. */
export const FULL_GRANT: Grant = { call: ['*'], service: undefined, register: ['*'], admin: true };

/** One principal's permissions, compiled once per SETUP or refresh. */
export class Access {
  private readonly calls: RoutePatterns;

  constructor(readonly principal: Principal) {
    this.calls = new RoutePatterns(principal.grant.call);
  }

  get admin(): boolean {
    return this.principal.grant.admin;
  }

  mayCall(route: string): boolean {
    return this.calls.matches(route);
  }
}

/** The refusal of a call to `route` by `principal`. */
export function permissionDenied(route: string, principal: Principal, why = ''): SluiceError {
  return new SluiceError('PERMISSION_DENIED', `route '${route}' is not granted to ${principal.id}${why}`);
}

/**
 * Why `principal` may not register `registration`, or undefined when it may:
 * only the service its grant names, only routes its `register` patterns
 * match, never as an anonymous principal.
 */
export function registrationRefusal(principal: Principal, registration: Registration): string | undefined {
  const { service } = registration;
  if (principal.anonymous) return `registration: anonymous connections may not register services; connect with a token whose grant names service '${service}'`;
  const grant = principal.grant;
  if (grant.service !== service) {
    return `registration: service '${service}' is not granted to ${principal.id}${grant.service === undefined ? ' (its grant names no service)' : ` (its grant names '${grant.service}')`}`;
  }
  const patterns = new RoutePatterns(grant.register);
  const denied = registration.routes.find((r) => !patterns.matches(r.name));
  if (denied) return `registration: route '${denied.name}' is not granted to ${principal.id} for registration`;
  return undefined;
}
