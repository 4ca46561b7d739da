/**
 * Sluice: the public API.
 *
 * For users: run a gateway, connect services, call routes.
 */
export { createGateway } from './gateway.js';
export type { Gateway, GatewayDependencies } from './gateway.js';
export { resolveGatewayConfig, defaultGatewayConfig, ConfigError } from './config.js';
export type { GatewayConfig, GatewayOptions, AuthConfig } from './config.js';

/* Trust: tokens, grants and the bearer entry (docs/security.md). */
export { createTokenVerifier } from './auth/verifier.js';
export type { TokenVerifier, TokenVerifierOptions } from './auth/verifier.js';
export { readSecretFile } from './auth/secret-file.js';
export { bearerEntry } from './auth/bearer.js';
export { GRANT_CLAIM, RoutePatterns, isRoutePattern } from './auth/grant.js';
export type { Grant, Principal } from './auth/grant.js';

export { connectService } from './service/connect-service.js';
export type { Service, ServiceOptions, ServiceStatusEvents } from './service/connect-service.js';
export type { GatewayDiscovery } from './service/gateway-discovery.js';
export { natsDiscovery } from './fleet/nats-discovery.js';
export type { NatsDiscoveryOptions } from './fleet/nats-discovery.js';
export type { SharedRateLimits } from './fleet/shared-rate-limits.js';
export type { RouteHandlers, RouteTable, RequestContext, StreamContext, StreamResult } from './service/handlers.js';
export { lastItem } from './flow/emitters.js';
export type { OverflowPolicy, LastItem } from './flow/emitters.js';

export { connect } from './transport/client-transport.js';
export type { Client, ClientOptions, SluiceClient, CallOptions, StreamOptions, ChannelOptions } from './client/index.js';
export type { ReconnectOptions, TokenProvider, TokenSource } from './client/index.js';

/* Logging: the interface the gateway and services log through (a pino logger fits it), a silent one, and Sluice's pino setup. */
export { silentLogger } from './observability/log.js';
export type { Logger } from './observability/log.js';
export { createLogger } from './observability/logger.js';

export { SluiceError, ErrorCodes, WireCode, isSluiceError } from './errors.js';
export type { ErrorCode } from './errors.js';

export { MimeTypes, routeMetadata, encodeComposite, decodeComposite, encodeRoutes, decodeRoutes } from './protocol/metadata.js';
export type { MetadataEntry } from './protocol/metadata.js';

/* Resilience for services: RxJS operators and the primitives behind them (the gateway uses the same ones). */
export { withDeadline, retryWithBackoff, isRetryable, circuitBreaker, bulkhead } from './resilience/operators/index.js';
export type { RetryWithBackoffOptions } from './resilience/operators/index.js';
export { CircuitBreaker } from './resilience/circuit-breaker.js';
export type { CircuitBreakerOptions, BreakerState } from './resilience/circuit-breaker.js';
export { Bulkhead } from './resilience/bulkhead.js';
export type { BulkheadOptions, Release } from './resilience/bulkhead.js';
/** An adaptive concurrency limit toward one dependency, sized from its latency and error rate (what a service calling another bounds its calls with). */
export { AdaptiveLimit } from './resilience/adaptive-limit.js';
export type { AdaptiveLimitOptions, Permit } from './resilience/adaptive-limit.js';
/** The one retry decision Sluice makes everywhere it retries: after a failed attempt, the full-jitter backoff before the next, or why there is none. */
export { nextRetry } from './resilience/retry.js';
export type { RetrySchedule, RetryLimits, RetryVerdict } from './resilience/retry.js';
export { backoffDelay } from './resilience/backoff.js';
export type { BackoffOptions } from './resilience/backoff.js';
export { RetryBudget } from './resilience/retry-budget.js';
export type { RetryBudgetOptions } from './resilience/retry-budget.js';
export { TokenBucket } from './resilience/token-bucket.js';
export { deadlineEntry, readDeadline, DEADLINE_MIME } from './resilience/deadline.js';

/* Tracing: W3C trace context in metadata, and spans over OTLP/HTTP (docs/operations.md#tracing). */
export { TRACE_CONTEXT_MIME, traceContextEntry, readTraceContext, parseTraceparent, formatTraceparent } from './protocol/trace-context.js';
export type { TraceContext, ParsedTraceparent } from './protocol/trace-context.js';
export { loadTracer, tracingSettings } from './observability/tracing.js';
export type { Tracer, TraceSpan, TracingOptions, TracingSettings, SpanOptions, SpanKind } from './observability/tracing.js';
export type { RoutePolicyInput, PoliciesConfig } from './policy/policy-config.js';
