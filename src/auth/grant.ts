/**
 * Who a connection is and what it may do. Every connection the gateway
 * accepts has exactly one Principal, fixed at SETUP (from a verified bearer
 * token, or the anonymous grant) and replaced only by a verified token
 * refresh. Every check on the hot path reads the grant through a compiled
 * matcher, never the token.
 *
 * Route patterns: an exact route name (`orders.get`), a prefix ending in `.*`
 * (`bench.*` matches `bench.echo` and `bench.a.b`, not `bench`), or `*` (every
 * route). Isomorphic: no Node modules.
 */

/**
 * What a principal may do. A bearer token (a JWT) carries it in one private
 * claim, `sluice`, beside the registered claims (`sub` required; `exp`,
 * `nbf`, `iss`, `aud` checked when configured):
 *
 *   { "sub": "payment", "exp": 1767225600,
 *     "sluice": { "call": ["inventory.*"], "service": "payment", "register": ["payment.*"], "admin": false } }
 *
 * Every field of `sluice` is optional; a missing one grants nothing.
 */
export const GRANT_CLAIM = 'sluice';

export interface Grant {
  /** Route patterns the holder may call (all four interaction models, gateway routes included). */
  readonly call: readonly string[];
  /** The service name the holder may register as; undefined: it may register nothing. */
  readonly service: string | undefined;
  /** Route patterns the holder may register (only with `service`). */
  readonly register: readonly string[];
  /** Admin: the gateway's own operations (`dlq.replay`, ...). */
  readonly admin: boolean;
}

export interface Principal {
  /** Stable identity for shares, rate limits and logs: `sub:<subject>` or `anonymous:<address>`. */
  readonly id: string;
  /** The token's `sub`, or `anonymous`. */
  readonly subject: string;
  readonly anonymous: boolean;
  readonly grant: Grant;
  /** Epoch ms at which the credential stops being valid; undefined for anonymous principals and tokens without `exp`. */
  readonly expiresAt: number | undefined;
}

export const NO_GRANT: Grant = { call: [], service: undefined, register: [], admin: false };

/** A compiled set of route patterns: `matches` is a Set lookup plus one probe per dot in the route. */
export class RoutePatterns {
  private readonly exact = new Set<string>();
  private readonly prefixes = new Set<string>();
  private readonly all: boolean;

  constructor(patterns: readonly string[]) {
    let all = false;
    for (const p of patterns) {
      if (p === '*') all = true;
      else if (p.endsWith('.*')) this.prefixes.add(p.slice(0, -1));
      else this.exact.add(p);
    }
    this.all = all;
  }

  matches(route: string): boolean {
    if (this.all || this.exact.has(route)) return true;
    if (this.prefixes.size === 0) return false;
    for (let i = route.indexOf('.'); i > 0 && i < route.length - 1; i = route.indexOf('.', i + 1)) {
      if (this.prefixes.has(route.slice(0, i + 1))) return true;
    }
    return false;
  }
}

const PATTERN = /^(\*|[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}(\.\*)?)$/;

/** True when `p` is a valid route pattern (see the file comment). */
export function isRoutePattern(p: unknown): p is string {
  return typeof p === 'string' && PATTERN.test(p);
}
