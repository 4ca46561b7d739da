/** The resilience RxJS operators for services, one per file. Isomorphic. */
export { bulkhead } from './bulkhead.js';
export { circuitBreaker } from './circuit-breaker.js';
export { isRetryable, retryWithBackoff } from './retry-with-backoff.js';
export type { RetryWithBackoffOptions } from './retry-with-backoff.js';
export { withDeadline } from './with-deadline.js';
