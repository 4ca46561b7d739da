import { ConfigError } from './config-error.js';
import { isRoutePattern } from './auth/grant.js';
import { isLoopbackHost } from './loopback.js';
import { compilePolicies, type PoliciesConfig } from './policy/policy-config.js';
import { DEFAULT_FLEET_BUCKET, MAX_ADVERTISED_URLS, isGatewayId, isGatewayUrl } from './fleet/gateway-entry.js';
import { MAX_REPORT_KEYS } from './fleet/rate-report.js';

/**
 * Gateway configuration: every option, its default and its allowed range in
 * one place, merged once and validated at start-up. A bad value fails with a
 * ConfigError naming the key and the allowed range.
 */

export { ConfigError };

export interface GatewayConfig {
  listen: {
    /** Interface for RSocket over WebSocket. Default 127.0.0.1. */
    host: string;
    /** WebSocket port; 0 picks a free one. Default 7878. */
    port: number;
    /** RSocket over TCP port; null disables TCP. Default null. */
    tcpPort: number | null;
    /**
     * Origins (`scheme://host:port`) allowed to open browser WebSockets, on
     * top of the admin server's own origin (so the dashboard works). `'*'`
     * allows every origin: any web page a user opens could then call the
     * gateway with that user's network position. Requests without an Origin
     * header (Node, services, other non-browser clients) are not affected.
     * Default [] (the admin server's origin only).
     */
    allowedOrigins: string[];
  };
  tls: {
    /**
     * PEM certificate (chain) file. With `keyFile`, the WebSocket port serves
     * `wss://`, the TCP listener TLS (`tls://`), and the admin server https
     * (unless `admin.tls` is false). Default null (plain text).
     */
    certFile: string | null;
    /** PEM private key file of `certFile`. Default null. */
    keyFile: string | null;
  };
  admin: {
    /** Set false to run no admin HTTP server. Default true. */
    enabled: boolean;
    /** Default 127.0.0.1. */
    host: string;
    /** Health, readiness and metrics. Default 7879. */
    port: number;
    /** Serve https with the `tls` certificate when one is configured. Default true. */
    tls: boolean;
    /**
     * Whether `/metrics` needs `Authorization: Bearer <token>` whose grant has
     * `admin` (health, readiness and the dashboard's static files never do).
     * null: only when auth is on and `admin.host` is not loopback. true needs
     * auth on. Default null.
     */
    requireToken: boolean | null;
  };
  limits: {
    /** Open connections at once; more are refused with HTTP 503 / closed. Default 10000. */
    maxConnections: number;
    /**
     * Open connections (TCP sockets, before and after the WebSocket upgrade)
     * from one remote address: an IPv4 address, or an IPv6 /64. More are
     * refused with HTTP 503 / closed. Default 1024: a tenth of the default
     * maxConnections, far above the load tester's defaults (4 connections)
     * and the scale benchmark (1001 from one address).
     */
    maxConnectionsPerAddress: number;
    /**
     * Fraction of maxConnections only connections that register a service may
     * use: a SETUP that registers nothing is refused with REJECTED_SETUP once
     * client connections hold the rest. Default 0.1.
     */
    serviceReserveRatio: number;
    /**
     * A client connection (no registration) with no stream open and no request
     * for this long is closed with CONNECTION_CLOSED; 0 never. Default 300000 (5 min).
     */
    idleTimeoutMs: number;
    /** Largest payload (data + metadata) in bytes; larger ends the stream with PAYLOAD_TOO_LARGE. Default 1 MiB. */
    maxPayloadSize: number;
    /** Largest single frame the transport reads, in bytes; larger closes the connection. Default 2 MiB. */
    maxFrameSize: number;
    /** Streams a peer may open at once on one connection. Default 1024. */
    maxStreamsPerConnection: number;
    /** Streams the gateway may open at once to one instance. Default 65536. */
    maxStreamsPerInstance: number;
    /** Unflushed outbound bytes per connection above which producers are paused. Default 1 MiB. */
    outboundHighWater: number;
    /** Unflushed outbound bytes per connection at which it is closed with SLOW_CONSUMER. Default 16 MiB. */
    outboundHardLimit: number;
    /** Time a connection may stay above the high water mark before SLOW_CONSUMER. Default 30 s. */
    slowConsumerTimeoutMs: number;
    /** Time to wait for SETUP after a connection opens (and for the TLS handshake and the upgrade request). Default 5 s. */
    setupTimeoutMs: number;
    /** Distinct routes registered at once; a registration beyond it is refused with REJECTED_SETUP. Default 10000. */
    maxRoutes: number;
    /**
     * Bytes peers may make the gateway hold, over every connection: fragments
     * being reassembled, items held ahead of demand, unflushed outbound bytes.
     * Above it the biggest holders are shed first (SLOW_CONSUMER for a
     * connection's unread bytes, OVERLOADED for fragments or held items);
     * prefetch pauses at half of it. Default 32 MiB.
     */
    memoryBudgetBytes: number;
    /** Time a fragmented payload may take from first to last fragment; then its stream ends with FRAGMENT_TIMEOUT. Default 10 s. */
    fragmentTimeoutMs: number;
  };
  flow: {
    /** Items a forwarded stream may have requested upstream and not delivered, per direction. Default 1024. */
    window: number;
    /**
     * Bytes likewise, estimated from the stream's average item size: large
     * items get a shorter window (never below 1 item). Default 512 KiB.
     */
    windowBytes: number;
    /**
     * Most items the gateway asks of a producer beyond its consumer's demand,
     * per stream, and holds until the consumer asks (within the window). A
     * stream starts as many ahead as its consumer's first request and doubles
     * that, up to this, each time its consumer asks for more than is held.
     * 0 passes demand through unchanged. Default 512.
     */
    prefetch: number;
    /** Bytes held ahead of demand over all streams; at this total, prefetch pauses. Default 64 MiB. */
    prefetchBudgetBytes: number;
  };
  keepAlive: {
    /** Bounds on the keepalive lifetime clients ask for in SETUP. Default 1 s .. 10 min. */
    minLifetimeMs: number;
    maxLifetimeMs: number;
    /**
     * Upper bound on the lifetime of connections that register no service, so
     * a silent client frees its slot soon. Default 60 s (a client must send
     * KEEPALIVE more often; Sluice clients send one every 20 s).
     */
    maxClientLifetimeMs: number;
  };
  /** On shutdown, time for in-flight interactions to finish before connections close. Default 10 s. */
  drainTimeoutMs: number;
  readiness: {
    /** /readyz answers 200 only once every one of these routes has an instance. Default []. */
    routes: string[];
  };
  logging: {
    /** pino level. Default 'info'. */
    level: string;
  };
  /** Per-route resilience policies: `{ defaults, routes }`, see docs/resilience.md. */
  policies: PoliciesConfig;
  deadLetter: {
    /** Directory of the durable dead-letter log. Default ./data/gateway. Opened only when some route's policy dead-letters. */
    dir: string;
    /** Pending entries kept at most; beyond, new dead letters are refused (and the requester told so). Default 10000. */
    maxEntries: number;
    /** Bytes of pending entries kept at most; same behaviour. Default 64 MiB. */
    maxBytes: number;
    /**
     * With `nats.servers` (the queue shared in JetStream): ms an entry is kept
     * at most; older ones are removed by JetStream, replayed or not. The
     * embedded log keeps entries until they are replayed. Default 30 days.
     */
    maxAgeMs: number;
  };
  /** Durable routes (policy `durable`), embedded backend; see docs/resilience.md#durable-routes. */
  durable: {
    /** Directory of the embedded backend: one segment log per durable route, locked by one gateway. Default ./data/gateway/durable. Opened only when some route's policy is durable and `nats.servers` is empty. */
    dir: string;
    /** Durable routes open at once at most; commands for more are refused OVERLOADED. Default 1000. */
    maxRoutes: number;
    /** Size at which the embedded backend starts a new segment file, in bytes. Default 16 MiB. */
    segmentBytes: number;
  };
  /** NATS JetStream as the durable backend, shared by every gateway on it; see docs/operations.md#nats-jetstream. */
  nats: {
    /** Server URLs (`nats://host:4222`); a non-empty list selects the JetStream backend. Default []. */
    servers: string[];
    /** A NATS credentials file (JWT and NKey seed) to connect with. Default null. */
    credentialsFile: string | null;
    /** A file holding a NATS token to connect with. Default null. */
    tokenFile: string | null;
    /** Replicas of each durable route's stream (3 in a 3-node cluster). Default 1. */
    replicas: number;
    /** Stream name prefix; a route's stream is `<prefix>_<route, encoded>`. Default SLUICE. */
    streamPrefix: string;
  };
  /** Who may connect and what they may do; see docs/security.md. */
  auth: AuthConfig;
  /** The HTTP bridge on the WebSocket port (`/v1/routes/...`, `/v1/streams/...`); see docs/protocol.md. */
  http: {
    /** Serve the bridge. Default true. */
    enabled: boolean;
    /** HTTP requests and event streams in flight at once; more are refused with 503 OVERLOADED. Default 1024. */
    maxConcurrent: number;
    /** Of them, from one remote address (IPv4, or IPv6 /64); more are refused with 429 OVERLOADED. Default 64. */
    maxConcurrentPerAddress: number;
    /** Items an event stream asks of its producer ahead of what it has written to the socket. Default 16. */
    sseWindow: number;
    /** Interval of heartbeat comments on event streams, in ms. Default 15000. */
    sseHeartbeatMs: number;
    /**
     * Verified bearer tokens remembered (by SHA-256, least recently used
     * dropped first), so a caller's token is not verified again on every
     * request; never used past the token's `exp`, cleared by `reload()`.
     * 0 verifies every request. Default 10000.
     */
    tokenCacheEntries: number;
    /** Longest a remembered token is used before it is verified again, in ms (bounds tokens without `exp`). Default 60000. */
    tokenCacheMaxAgeMs: number;
  };
  /** OpenTelemetry spans per interaction, exported over OTLP/HTTP; see docs/operations.md. Off unless an endpoint is set here or in the environment. */
  tracing: {
    /** OTLP/HTTP base URL (spans go to `<endpoint>/v1/traces`). Default null: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`, else tracing off. */
    endpoint: string | null;
    /** `service.name` of the gateway's spans. Default null: `OTEL_SERVICE_NAME`, else `sluice-gateway`. */
    serviceName: string | null;
    /** Spans queued for export at most; beyond, new spans are dropped. Default 2048. */
    maxQueueSize: number;
  };
  /** Signed webhooks: the `webhooks.*` routes and their durable dispatcher; see docs/operations.md and docs/security.md. */
  webhooks: WebhooksConfig;
  /** This gateway as one of a fleet, registered in NATS KV on the `nats` servers; in effect when `nats.servers` is set. See docs/operations.md. */
  fleet: {
    /** Its key in the fleet bucket: letters, digits, `-`, `_`, at most 64. Default null: `gw-` and random hex, new at each start. */
    id: string | null;
    /** URLs services should connect to, preferred first (at most 8). Default []: the URLs it listens on (WebSocket, then TCP). */
    advertise: string[];
    /** The NATS KV bucket of the fleet. Default `sluice_gateways`. */
    bucket: string;
    /** Services drop this gateway when its entry is not re-written for this long; it is re-written every third of it. Default 15000 ms. */
    ttlMs: number;
    /**
     * Routes' per-identity rate limits hold across the fleet, approximately:
     * each gateway publishes what each identity asked of it on NATS and
     * refills its own buckets at its share of the limit (src/fleet/,
     * docs/operations.md). false: each gateway enforces the whole limit on
     * its own. Default true.
     */
    sharedRateLimits: boolean;
    /** How often a gateway publishes its takes per identity and recomputes its shares, in ms. Default 500. */
    rateIntervalMs: number;
    /** Keys (route and identity) published per interval at most, the busiest first; the rest are counted, not shared. Default 1000. */
    rateMaxKeys: number;
    /** Keys of other gateways remembered at most; the least recently reported is forgotten first. Default 20000. */
    rateMaxRemoteKeys: number;
    /** Least share of a limit a gateway keeps for a key however busy the others are, as a fraction of the limit split over the gateways using that key. Default 0.1. */
    rateMinShare: number;
  };
}

/**
 * The `webhooks` group: what the gateway serves and how the dispatcher
 * (src/webhooks/dispatcher.ts) delivers. One type for both, so a new option
 * cannot be added to one and forgotten in the other.
 */
export interface WebhooksConfig {
  /** Serve the `webhooks.*` routes and deliver. Default false. */
  enabled: boolean;
  /** Directory of the durable delivery log. Default ./data/webhooks. */
  dir: string;
  /** Hosts deliveries may go to: names, `*.suffix` patterns, or `*`. Default [] (none: every subscribe is refused). */
  allowedHosts: string[];
  /** Allow loopback addresses (127.0.0.0/8, ::1). Default false. */
  allowLoopback: boolean;
  /** Allow private, link-local and reserved addresses (10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, ...). Default false. */
  allowPrivate: boolean;
  /** Subscriptions at most. Default 1000. */
  maxSubscriptions: number;
  /** Deliveries pending at most, over all subscriptions; beyond, publish is refused OVERLOADED. Default 100000. */
  maxPending: number;
  /** Delivery log size in bytes at most when publishing. Default 256 MiB. */
  maxBytes: number;
  /** Dead deliveries kept for operators; the oldest beyond are forgotten. Default 10000. */
  maxDead: number;
  /** Attempts per delivery before it is dead. Default 8. */
  maxAttempts: number;
  /** First retry delay ceiling in ms (doubles per attempt, full jitter). Default 500. */
  initialDelayMs: number;
  /** Largest retry delay ceiling in ms. Default 300000. */
  maxDelayMs: number;
  /** Ms an endpoint has to answer one attempt. Default 10000. */
  timeoutMs: number;
  /** Requests in flight per subscription. Default 4. */
  concurrencyPerEndpoint: number;
  /** Largest delivery body in bytes. Default 262144. */
  maxBodyBytes: number;
}

/**
 * Authentication and the anonymous grant. Auth is on when `secretFile` or
 * `jwksFile` is set; with neither, the gateway runs in open mode: every
 * connection may do everything, so it binds only to loopback unless
 * `allowAnonymous` says otherwise.
 */
export interface AuthConfig {
  /** File holding the HS256 shared secret (its contents, trailing whitespace trimmed; at least 32 bytes). Default null. */
  secretFile: string | null;
  /** File holding a JWKS (`{"keys": [...]}`) of public keys for RS*, PS*, ES* and EdDSA tokens. Default null. */
  jwksFile: string | null;
  /** Accepted `iss` values; null accepts any (and none). Default null. */
  issuer: string | string[] | null;
  /** Accepted `aud` values (the token must name one); null accepts any. Default null. */
  audience: string | string[] | null;
  /** Tolerance for `exp` and `nbf`, in ms; a token is also kept open this long past its `exp`. Default 30 s. */
  clockSkewMs: number;
  anonymous: {
    /** Connections without a token are accepted with the anonymous grant; false refuses them with UNAUTHENTICATED. Default true. */
    enabled: boolean;
    /** Route patterns the anonymous grant may call (never register, never admin). Default []. */
    call: string[];
  };
  /** Open mode on a non-loopback `listen.host`: allowed only when true. Ignored when auth is on. Default false. */
  allowAnonymous: boolean;
  /** A registration of an instance id held by a connection of the same principal pings that connection first; it is replaced only when it does not answer within this many ms. Default 2 s. */
  probeTimeoutMs: number;
}

/** True when tokens are verified (a secret or a JWKS is configured). */
export function authEnabled(auth: AuthConfig): boolean {
  return auth.secretFile !== null || auth.jwksFile !== null;
}

type Group<T> = T extends unknown[] ? T : T extends object ? Partial<T> : T;

export type GatewayOptions = {
  [K in Exclude<keyof GatewayConfig, 'auth'>]?: Group<GatewayConfig[K]>;
} & {
  auth?: Partial<Omit<AuthConfig, 'anonymous'>> & { anonymous?: Partial<AuthConfig['anonymous']> };
};

export const defaultGatewayConfig: GatewayConfig = {
  listen: { host: '127.0.0.1', port: 7878, tcpPort: null, allowedOrigins: [] },
  admin: { enabled: true, host: '127.0.0.1', port: 7879, tls: true, requireToken: null },
  limits: {
    maxConnections: 10_000,
    maxConnectionsPerAddress: 1024,
    serviceReserveRatio: 0.1,
    idleTimeoutMs: 300_000,
    maxPayloadSize: 1024 * 1024,
    maxFrameSize: 2 * 1024 * 1024,
    maxStreamsPerConnection: 1024,
    maxStreamsPerInstance: 65_536,
    outboundHighWater: 1024 * 1024,
    outboundHardLimit: 16 * 1024 * 1024,
    slowConsumerTimeoutMs: 30_000,
    setupTimeoutMs: 5_000,
    maxRoutes: 10_000,
    memoryBudgetBytes: 32 * 1024 * 1024,
    fragmentTimeoutMs: 10_000,
  },
  flow: { window: 1024, windowBytes: 512 * 1024, prefetch: 512, prefetchBudgetBytes: 64 * 1024 * 1024 },
  keepAlive: { minLifetimeMs: 1_000, maxLifetimeMs: 600_000, maxClientLifetimeMs: 60_000 },
  drainTimeoutMs: 10_000,
  readiness: { routes: [] },
  logging: { level: 'info' },
  policies: { defaults: {}, routes: {} },
  deadLetter: { dir: './data/gateway', maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, maxAgeMs: 30 * 86_400_000 },
  durable: { dir: './data/gateway/durable', maxRoutes: 1_000, segmentBytes: 16 * 1024 * 1024 },
  nats: { servers: [], credentialsFile: null, tokenFile: null, replicas: 1, streamPrefix: 'SLUICE' },
  tls: { certFile: null, keyFile: null },
  fleet: { id: null, advertise: [], bucket: DEFAULT_FLEET_BUCKET, ttlMs: 15_000, sharedRateLimits: true, rateIntervalMs: 500, rateMaxKeys: 1_000, rateMaxRemoteKeys: 20_000, rateMinShare: 0.1 },
  auth: {
    secretFile: null,
    jwksFile: null,
    issuer: null,
    audience: null,
    clockSkewMs: 30_000,
    anonymous: { enabled: true, call: [] },
    allowAnonymous: false,
    probeTimeoutMs: 2_000,
  },
  http: { enabled: true, maxConcurrent: 1024, maxConcurrentPerAddress: 64, sseWindow: 16, sseHeartbeatMs: 15_000, tokenCacheEntries: 10_000, tokenCacheMaxAgeMs: 60_000 },
  tracing: { endpoint: null, serviceName: null, maxQueueSize: 2048 },
  webhooks: {
    enabled: false,
    dir: './data/webhooks',
    allowedHosts: [],
    allowLoopback: false,
    allowPrivate: false,
    maxSubscriptions: 1000,
    maxPending: 100_000,
    maxBytes: 256 * 1024 * 1024,
    maxDead: 10_000,
    maxAttempts: 8,
    initialDelayMs: 500,
    maxDelayMs: 300_000,
    timeoutMs: 10_000,
    concurrencyPerEndpoint: 4,
    maxBodyBytes: 256 * 1024,
  },
};

type Range = readonly [min: number, max: number];
const PORT: Range = [0, 65535];
const INT_RANGES: Record<string, Range> = {
  'listen.port': PORT,
  'admin.port': PORT,
  'limits.maxConnections': [1, 1_000_000],
  'limits.maxConnectionsPerAddress': [1, 1_000_000],
  'limits.idleTimeoutMs': [0, 86_400_000],
  'limits.maxPayloadSize': [1024, 16 * 1024 * 1024 - 1],
  'limits.maxFrameSize': [1024, 16 * 1024 * 1024 - 1],
  'limits.maxStreamsPerConnection': [1, 1_000_000],
  'limits.maxStreamsPerInstance': [1, 10_000_000],
  'limits.outboundHighWater': [1024, 1024 * 1024 * 1024],
  'limits.outboundHardLimit': [2048, 4 * 1024 * 1024 * 1024],
  'limits.slowConsumerTimeoutMs': [100, 3_600_000],
  'limits.setupTimeoutMs': [100, 600_000],
  'limits.maxRoutes': [1, 1_000_000],
  'limits.memoryBudgetBytes': [1024 * 1024, 64 * 1024 * 1024 * 1024],
  'limits.fragmentTimeoutMs': [100, 600_000],
  'flow.window': [1, 65_536],
  'flow.windowBytes': [1024, 64 * 1024 * 1024],
  'flow.prefetch': [0, 65_536],
  'flow.prefetchBudgetBytes': [0, 16 * 1024 * 1024 * 1024],
  'keepAlive.minLifetimeMs': [100, 3_600_000],
  'keepAlive.maxLifetimeMs': [100, 3_600_000],
  'keepAlive.maxClientLifetimeMs': [100, 3_600_000],
  drainTimeoutMs: [0, 600_000],
  'deadLetter.maxEntries': [1, 10_000_000],
  'deadLetter.maxBytes': [1024, 16 * 1024 * 1024 * 1024],
  'deadLetter.maxAgeMs': [60_000, 3_650 * 86_400_000],
  'durable.maxRoutes': [1, 100_000],
  'durable.segmentBytes': [64 * 1024, 1024 * 1024 * 1024],
  'nats.replicas': [1, 5],
  'auth.clockSkewMs': [0, 600_000],
  'auth.probeTimeoutMs': [10, 60_000],
  'http.maxConcurrent': [1, 1_000_000],
  'http.maxConcurrentPerAddress': [1, 1_000_000],
  'http.sseWindow': [1, 4096],
  'http.sseHeartbeatMs': [100, 3_600_000],
  'http.tokenCacheEntries': [0, 10_000_000],
  'http.tokenCacheMaxAgeMs': [1_000, 86_400_000],
  'tracing.maxQueueSize': [1, 1_000_000],
  'webhooks.maxSubscriptions': [1, 1_000_000],
  'webhooks.maxPending': [1, 100_000_000],
  'webhooks.maxBytes': [64 * 1024, 64 * 1024 * 1024 * 1024],
  'webhooks.maxDead': [0, 10_000_000],
  'webhooks.maxAttempts': [1, 100],
  'webhooks.initialDelayMs': [1, 3_600_000],
  'webhooks.maxDelayMs': [1, 86_400_000],
  'webhooks.timeoutMs': [100, 600_000],
  'webhooks.concurrencyPerEndpoint': [1, 1024],
  'webhooks.maxBodyBytes': [1024, 16 * 1024 * 1024],
  'fleet.ttlMs': [1_000, 3_600_000],
  'fleet.rateIntervalMs': [50, 60_000],
  // 5000 keys of at most ~40 bytes each keep one report far below NATS's default 1 MiB max_payload.
  'fleet.rateMaxKeys': [1, MAX_REPORT_KEYS],
  'fleet.rateMaxRemoteKeys': [1, 1_000_000],
};
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Merges options over the defaults and validates the result. Throws ConfigError. */
export function resolveGatewayConfig(options: GatewayOptions = {}): GatewayConfig {
  const config = structuredClone(defaultGatewayConfig) as unknown as Record<string, unknown>;
  for (const [group, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(config, group)) throw new ConfigError(group, `unknown key; known keys are ${Object.keys(config).join(', ')}`);
    const base = config[group];
    if (isPlainObject(base)) {
      if (!isPlainObject(value)) throw new ConfigError(group, 'must be an object');
      for (const [k, v] of Object.entries(value)) {
        if (!Object.hasOwn(base, k)) throw new ConfigError(`${group}.${k}`, `unknown key; known keys are ${Object.keys(base).map((b) => `${group}.${b}`).join(', ')}`);
        if (v === undefined) continue;
        const inner = base[k];
        // One nested group (auth.anonymous) merges key by key like the top-level groups.
        if (group === 'auth' && isPlainObject(inner)) {
          if (!isPlainObject(v)) throw new ConfigError(`${group}.${k}`, 'must be an object');
          for (const [ik, iv] of Object.entries(v)) {
            if (!Object.hasOwn(inner, ik)) throw new ConfigError(`${group}.${k}.${ik}`, `unknown key; known keys are ${Object.keys(inner).map((b) => `${group}.${k}.${b}`).join(', ')}`);
            if (iv !== undefined) inner[ik] = iv;
          }
        } else {
          base[k] = v;
        }
      }
    } else {
      config[group] = value;
    }
  }
  const c = config as unknown as GatewayConfig;
  validate(c);
  return c;
}

function validate(c: GatewayConfig): void {
  for (const [key, [min, max]] of Object.entries(INT_RANGES)) {
    const v = get(c, key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(key, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
  }
  if (c.listen.tcpPort !== null && (!Number.isInteger(c.listen.tcpPort) || c.listen.tcpPort < PORT[0] || c.listen.tcpPort > PORT[1])) {
    throw new ConfigError('listen.tcpPort', `must be null or an integer from 0 to 65535, got ${JSON.stringify(c.listen.tcpPort)}`);
  }
  for (const key of ['listen.host', 'admin.host']) {
    const v = get(c, key);
    if (typeof v !== 'string' || v.length === 0) throw new ConfigError(key, `must be a non-empty host name or address, got ${JSON.stringify(v)}`);
  }
  if (typeof c.admin.enabled !== 'boolean') throw new ConfigError('admin.enabled', 'must be true or false');
  if (typeof c.admin.tls !== 'boolean') throw new ConfigError('admin.tls', 'must be true or false');
  if (c.admin.requireToken !== null && typeof c.admin.requireToken !== 'boolean') throw new ConfigError('admin.requireToken', `must be true, false or null (auto), got ${JSON.stringify(c.admin.requireToken)}`);
  if (typeof c.http.enabled !== 'boolean') throw new ConfigError('http.enabled', 'must be true or false');
  if (!Array.isArray(c.listen.allowedOrigins) || !c.listen.allowedOrigins.every((o) => typeof o === 'string' && (o === '*' || isOrigin(o)))) {
    throw new ConfigError('listen.allowedOrigins', `must be an array of origins such as "https://app.example:8443" (scheme://host[:port], no path), or "*", got ${JSON.stringify(c.listen.allowedOrigins)}`);
  }
  for (const key of ['tls.certFile', 'tls.keyFile']) {
    const v = get(c, key);
    if (v !== null && (typeof v !== 'string' || v.length === 0)) throw new ConfigError(key, `must be null or a file path, got ${JSON.stringify(v)}`);
  }
  if ((c.tls.certFile === null) !== (c.tls.keyFile === null)) {
    throw new ConfigError(c.tls.certFile === null ? 'tls.certFile' : 'tls.keyFile', 'tls.certFile and tls.keyFile go together: set both or neither');
  }
  const ratio = c.limits.serviceReserveRatio;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 0.9) {
    throw new ConfigError('limits.serviceReserveRatio', `must be a number from 0 to 0.9, got ${JSON.stringify(ratio)}`);
  }
  if (!Array.isArray(c.readiness.routes) || !c.readiness.routes.every((r) => typeof r === 'string' && r.length > 0)) {
    throw new ConfigError('readiness.routes', 'must be an array of route names');
  }
  if (c.limits.maxPayloadSize > c.limits.maxFrameSize) {
    throw new ConfigError('limits.maxPayloadSize', `must not exceed limits.maxFrameSize (${c.limits.maxFrameSize})`);
  }
  if (c.limits.outboundHighWater >= c.limits.outboundHardLimit) {
    throw new ConfigError('limits.outboundHighWater', `must be below limits.outboundHardLimit (${c.limits.outboundHardLimit})`);
  }
  if (c.keepAlive.minLifetimeMs > c.keepAlive.maxLifetimeMs) {
    throw new ConfigError('keepAlive.minLifetimeMs', `must not exceed keepAlive.maxLifetimeMs (${c.keepAlive.maxLifetimeMs})`);
  }
  for (const key of ['endpoint', 'serviceName'] as const) {
    const v = c.tracing[key];
    if (v !== null && (typeof v !== 'string' || v.length === 0)) throw new ConfigError(`tracing.${key}`, `must be null or a non-empty string, got ${JSON.stringify(v)}`);
  }
  for (const key of ['enabled', 'allowLoopback', 'allowPrivate'] as const) {
    if (typeof c.webhooks[key] !== 'boolean') throw new ConfigError(`webhooks.${key}`, 'must be true or false');
  }
  if (typeof c.webhooks.dir !== 'string' || c.webhooks.dir.length === 0) throw new ConfigError('webhooks.dir', 'must be a directory path');
  if (!Array.isArray(c.webhooks.allowedHosts) || !c.webhooks.allowedHosts.every((h) => typeof h === 'string' && /^(\*|(\*\.)?[a-z0-9.:[\]-]+)$/i.test(h))) {
    throw new ConfigError('webhooks.allowedHosts', `must be an array of host names, '*.suffix' patterns or '*', got ${JSON.stringify(c.webhooks.allowedHosts)}`);
  }
  if (c.webhooks.initialDelayMs > c.webhooks.maxDelayMs) throw new ConfigError('webhooks.initialDelayMs', `must not exceed webhooks.maxDelayMs (${c.webhooks.maxDelayMs})`);
  if (!LEVELS.includes(c.logging.level)) throw new ConfigError('logging.level', `must be one of ${LEVELS.join(', ')}`);
  if (typeof c.deadLetter.dir !== 'string' || c.deadLetter.dir.length === 0) throw new ConfigError('deadLetter.dir', 'must be a directory path');
  if (typeof c.durable.dir !== 'string' || c.durable.dir.length === 0) throw new ConfigError('durable.dir', 'must be a directory path');
  if (!Array.isArray(c.nats.servers) || !c.nats.servers.every(isNatsUrl)) {
    throw new ConfigError('nats.servers', `must be an array of NATS URLs such as "nats://127.0.0.1:4222", got ${JSON.stringify(c.nats.servers)}`);
  }
  for (const key of ['credentialsFile', 'tokenFile'] as const) {
    const v = c.nats[key];
    if (v !== null && (typeof v !== 'string' || v.length === 0)) throw new ConfigError(`nats.${key}`, `must be null or a file path, got ${JSON.stringify(v)}`);
  }
  if (c.nats.credentialsFile !== null && c.nats.tokenFile !== null) throw new ConfigError('nats.tokenFile', 'nats.credentialsFile and nats.tokenFile are two ways to authenticate: set one');
  if (typeof c.nats.streamPrefix !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(c.nats.streamPrefix)) {
    throw new ConfigError('nats.streamPrefix', `must be 1-32 characters from A-Z a-z 0-9 _ -, got ${JSON.stringify(c.nats.streamPrefix)}`);
  }
  compilePolicies(c.policies);
  validateAuth(c);
  validateFleet(c);
}

function validateFleet(c: GatewayConfig): void {
  if (c.fleet.id !== null && !isGatewayId(c.fleet.id)) throw new ConfigError('fleet.id', `must be null or 1-64 letters, digits, '-' or '_', got ${JSON.stringify(c.fleet.id)}`);
  const adv = c.fleet.advertise;
  if (!Array.isArray(adv) || adv.length > MAX_ADVERTISED_URLS || !adv.every(isGatewayUrl)) {
    throw new ConfigError('fleet.advertise', `must be an array of at most ${MAX_ADVERTISED_URLS} ws://, wss://, tcp:// or tls:// URLs, got ${JSON.stringify(adv)}`);
  }
  if (typeof c.fleet.bucket !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(c.fleet.bucket)) {
    throw new ConfigError('fleet.bucket', `must be 1-64 letters, digits, '-' or '_', got ${JSON.stringify(c.fleet.bucket)}`);
  }
  if (typeof c.fleet.sharedRateLimits !== 'boolean') throw new ConfigError('fleet.sharedRateLimits', 'must be true or false');
  const share = c.fleet.rateMinShare;
  if (typeof share !== 'number' || !Number.isFinite(share) || share < 0.001 || share > 1) {
    throw new ConfigError('fleet.rateMinShare', `must be a number from 0.001 to 1, got ${JSON.stringify(share)}`);
  }
}

function validateAuth(c: GatewayConfig): void {
  const a = c.auth;
  for (const key of ['secretFile', 'jwksFile'] as const) {
    const v = a[key];
    if (v !== null && (typeof v !== 'string' || v.length === 0)) throw new ConfigError(`auth.${key}`, `must be null or a file path, got ${JSON.stringify(v)}`);
  }
  for (const key of ['issuer', 'audience'] as const) {
    const v = a[key];
    const ok = v === null || (typeof v === 'string' && v.length > 0) || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0));
    if (!ok) throw new ConfigError(`auth.${key}`, `must be null, a non-empty string or a non-empty array of them, got ${JSON.stringify(v)}`);
  }
  if (typeof a.anonymous.enabled !== 'boolean') throw new ConfigError('auth.anonymous.enabled', 'must be true or false');
  if (!Array.isArray(a.anonymous.call)) throw new ConfigError('auth.anonymous.call', 'must be an array of route patterns');
  a.anonymous.call.forEach((p, i) => {
    if (!isRoutePattern(p)) throw new ConfigError(`auth.anonymous.call[${i}]`, `${JSON.stringify(p)} is not a route pattern (a route, a prefix such as 'bench.*', or '*')`);
  });
  if (typeof a.allowAnonymous !== 'boolean') throw new ConfigError('auth.allowAnonymous', 'must be true or false');
  // Redis's protected mode: with nobody authenticated, only this machine may connect unless told otherwise.
  if (!authEnabled(a) && !a.allowAnonymous && !isLoopbackHost(c.listen.host)) {
    throw new ConfigError(
      'listen.host',
      `${c.listen.host} is not a loopback address and auth is off (no auth.secretFile or auth.jwksFile): anyone who can reach it could call every route and register as any service. Configure auth, bind to 127.0.0.1, or set auth.allowAnonymous (--allow-anonymous) to accept this`,
    );
  }
  if (c.admin.requireToken === true && !authEnabled(a)) {
    throw new ConfigError('admin.requireToken', 'is true but auth is off (no auth.secretFile or auth.jwksFile): there is nothing to verify an admin token with');
  }
}

/** Whether the admin server's `/metrics` asks for an admin token (`admin.requireToken`, resolved). */
export function adminNeedsToken(c: Pick<GatewayConfig, 'admin' | 'auth'>): boolean {
  return c.admin.requireToken ?? (authEnabled(c.auth) && !isLoopbackHost(c.admin.host));
}

/** `nats://`, `tls://`, `ws://` or `wss://` with a host: what the NATS client connects to. */
function isNatsUrl(u: unknown): boolean {
  if (typeof u !== 'string') return false;
  try {
    const url = new URL(u);
    return ['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname.length > 0;
  } catch {
    return false;
  }
}

/** `scheme://host[:port]` and nothing else: what browsers send in the Origin header. */
function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && !u.search && !u.hash && !u.username;
  } catch {
    return false;
  }
}

/** Whole reservation of connections for services, from limits.serviceReserveRatio. */
export function reservedForServices(limits: GatewayConfig['limits']): number {
  return Math.floor(limits.maxConnections * limits.serviceReserveRatio);
}

function get(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (isPlainObject(o) ? o[k] : undefined), obj);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
