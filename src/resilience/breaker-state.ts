/**
 * The circuit-breaker state of a route as the gateway reports it (stats
 * stream, dashboard). No route has a breaker wired in yet: every route is
 * `closed`. This is the one place the resilience work plugs the routes'
 * breakers (circuit-breaker.ts) into: pass `breakerState` to createGateway.
 */
import type { BreakerState } from './circuit-breaker.js';

export type { BreakerState };

/** Breaker state of `route` now. */
export type BreakerStateOf = (route: string) => BreakerState;

/** Until breakers exist, no route's breaker is ever open. */
export const noBreakers: BreakerStateOf = () => 'closed';
