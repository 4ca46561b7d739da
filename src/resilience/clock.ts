/**
 * The time source of the resilience primitives. Isomorphic.
 *
 * Injected rather than read from a global so that tests drive time by hand
 * (breaker open durations, token refill, budget expiry) without sleeping.
 */

/**
 * Milliseconds from an arbitrary origin, monotonic: never goes backwards, so
 * durations computed from it are never negative even when the wall clock is
 * adjusted. Only differences between two readings mean anything.
 */
export type Clock = () => number;

/**
 * The default clock: `performance.now()` (monotonic, sub-millisecond, present
 * in Node and browsers). Not `Date.now()`, which jumps with NTP and manual
 * changes and would open or close breakers at random.
 */
export const systemClock: Clock = () => performance.now();
