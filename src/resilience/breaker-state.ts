/** The circuit-breaker state of a route as the gateway reports it (stats stream, dashboard). */
import type { BreakerState } from './circuit-breaker.js';

export type { BreakerState };

/** Breaker state of `route` now: see PolicyRuntime.breakerState. */
export type BreakerStateOf = (route: string) => BreakerState;
