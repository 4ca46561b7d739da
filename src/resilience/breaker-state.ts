/**
 * The circuit-breaker state of a route as the gateway reports it (stats
 * stream, dashboard). Sluice has no breakers yet: every route is `closed`.
 * This is the one place the resilience work plugs its breakers into.
 */

/** `closed`: calls go through; `open`: refused with CIRCUIT_OPEN; `half-open`: trial calls only. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Breaker state of `route` now. */
export type BreakerStateOf = (route: string) => BreakerState;

/** Until breakers exist, no route's breaker is ever open. */
export const noBreakers: BreakerStateOf = () => 'closed';
