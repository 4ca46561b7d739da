/**
 * The gateway's responder for every accepted connection: reads the route and
 * the request's metadata, applies admission (draining, route known, rate
 * limit), then hands the interaction to a Forwarding (forwarding.ts), which
 * runs the rest of the route's policy and carries demand across the hop.
 * Routes served inside the gateway (`sluice.*`, `dlq.*`) go to local handlers.
 */
import { SluiceError } from '../errors.js';
import { permissionDenied, type Access } from '../auth/permissions.js';
import { MetadataError, MimeTypes, decodeComposite, decodeRoutes, encodeComposite, type MetadataEntry } from '../protocol/metadata.js';
import { STREAM_MIME_TYPE, decodeStreamMime, streamMimeEntry } from '../protocol/stream-mime.js';
import type { Payload } from '../protocol/frames.js';
import type { Connection, Responder } from '../rsocket/connection.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Tracer } from '../observability/tracing.js';
import { readDeadline } from '../resilience/deadline.js';
import type { PolicyRuntime } from '../policy/route-runtime.js';
import { PrefetchBudget } from '../flow/prefetch-budget.js';
import type { MemoryBudget } from '../rsocket/memory-budget.js';
import { peerHost, RateLimitedLog } from '../observability/rate-limited-log.js';
import { cacheKey, scopeOf, type CacheTap, type ResponseCaches } from '../policy/response-cache.js';
import { DeadLetterer, deadLetterable, type DeadLetterSink } from '../deadletter/rules.js';
import { Forwarding, type ForwardingContext, type Interaction } from './forwarding.js';
import { RequestHeads, type HeadDecoder, type RequestHead } from './request-heads.js';
import { ownBytes } from './own-bytes.js';
import type { Instance, Registry } from './registry.js';
import type { DurableRoutes } from '../durable/durable-routes.js';
import { intakeChannel, intakeFireAndForget, intakeResponse } from '../durable/intake.js';

export type { Interaction } from './forwarding.js';

export interface ForwarderOptions {
  /** Most items outstanding upstream per stream and direction. */
  window: number;
  /** Most bytes outstanding upstream per stream and direction (estimated from the average item size). */
  windowBytes: number;
  /** Items asked of a producer beyond its consumer's demand, per stream. Default 0: pass-through. */
  prefetch?: number;
  /** Bytes held ahead of demand over all streams, beyond which prefetch pauses. Default: no prefetch budget. */
  prefetchBudgetBytes?: number;
  /** Largest payload a producer may send, in bytes: sizes each stream's window before its first item. Default: none. */
  maxPayloadSize?: number;
  /** Gateway-wide bound on bytes held for peers: held prefetch reports to it, and prefetch pauses while it is half used. */
  memory?: MemoryBudget;
  /** Rate limits the warnings a peer can repeat at will (dropped fire-and-forget). Default: every one is logged. */
  warnings?: RateLimitedLog;
}

/**
 * Who sends one request, as the forwarder needs it: an RSocket connection's
 * principal, or an HTTP bridge request's (src/http/).
 */
export interface RequestOrigin {
  readonly log: Logger;
  /** `host:port`, for rate-limited warnings. */
  readonly remoteAddress: string;
  /** What the requester may call; undefined: everything (no access control). */
  readonly access: Access | undefined;
  /** Identity for rate limits and shares. */
  readonly identity: string;
  /** The data MIME type its requests are in unless they say otherwise (a connection's SETUP). Default application/json. */
  readonly dataMimeType?: string | undefined;
}

/**
 * A route served inside the gateway process. `requestResponseFrom` is for
 * routes that judge who asks beyond the route grant (the caller's access,
 * from a connection or the HTTP bridge alike); it wins over `requestResponse`.
 */
export type LocalRoute = Partial<Pick<Responder, 'requestResponse' | 'requestStream' | 'requestChannel'>> & {
  requestResponseFrom?(origin: RequestOrigin, payload: Payload, stream: Stream): StreamHandler;
};

export interface ForwarderDependencies {
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly policies: PolicyRuntime;
  readonly log: Logger;
  readonly local?: ReadonlyMap<string, LocalRoute>;
  readonly deadLetter?: DeadLetterSink;
  /** Who a connection is, for per-client rate limits and shares of route bulkheads. */
  identityOf(conn: Connection): string;
  /** What a connection may call; undefined (or no function): everything, as without access control. */
  accessOf?(conn: Connection): Access | undefined;
  /** Gateway routes that need an admin grant (`dlq.*`: they show and resend other callers' payloads). */
  readonly adminRoutes?: ReadonlySet<string>;
  /** Answers of routes whose policy caches; absent: nothing is cached. */
  readonly caches?: ResponseCaches;
  /** A span per forwarded interaction when set (tracing on); undefined creates none. */
  readonly tracer?: Tracer | undefined;
  /** The durable routes, when some route's policy is durable: their commands are persisted, then delivered. */
  readonly durable?: DurableRoutes;
}


export class Forwarder {
  readonly live = new Set<Interaction>();
  /** Bytes held for consumers ahead of their demand, over every stream. */
  readonly prefetchBudget: PrefetchBudget;
  /** Every dead letter goes through it, and is counted there (`sluice_dead_lettered_total`). */
  readonly deadLetters: DeadLetterer;
  private draining = false;
  private readonly ctx: ForwardingContext;
  private readonly local: ReadonlyMap<string, LocalRoute>;
  private readonly warnings: RateLimitedLog | undefined;

  constructor(
    private readonly deps: ForwarderDependencies,
    options: ForwarderOptions,
  ) {
    this.local = deps.local ?? new Map();
    this.prefetchBudget = new PrefetchBudget(options.prefetchBudgetBytes ?? Infinity, options.memory);
    this.warnings = options.warnings;
    this.deadLetters = new DeadLetterer(deps.deadLetter, deps.log);
    this.ctx = {
      registry: deps.registry,
      metrics: deps.metrics,
      policies: deps.policies,
      window: options.window,
      windowBytes: options.windowBytes,
      prefetch: options.prefetch ?? 0,
      prefetchBudget: this.prefetchBudget,
      maxItemBytes: options.maxPayloadSize,
      memory: options.memory,
      live: this.live,
      log: deps.log,
      deadLetters: this.deadLetters,
      tracer: deps.tracer,
    };
  }

  /** From now on new interactions are refused with UNAVAILABLE; running ones go on. */
  drain(): void {
    this.draining = true;
  }

  /** The responder for one accepted connection. */
  responderFor(conn: Connection): Responder {
    // One origin per connection; its getters read access and identity per request (a token refresh changes them).
    const origin = new ConnectionOrigin(conn, this.deps);
    return {
      fireAndForget: (payload) => this.fireAndForget(origin, payload),
      requestResponse: (payload, down) => this.open(origin, 'response', payload, down, false),
      requestStream: (payload, down) => this.open(origin, 'stream', payload, down, false),
      requestChannel: (payload, complete, down) => this.open(origin, 'channel', payload, down, complete),
    };
  }

  /**
   * One request-response or request-stream from outside RSocket (the HTTP
   * bridge): the same admission, policies, cache and forwarding as a
   * connection's. `down` is the requester's side of the stream; its handler
   * is the returned one.
   */
  request(origin: RequestOrigin, model: 'response' | 'stream', payload: Payload, down: Stream): StreamHandler {
    return this.open(origin, model, payload, down, false);
  }

  /** Throws PERMISSION_DENIED unless `access` covers `route` (the HTTP bridge asks before it says anything about the route). */
  checkCall(access: Access | undefined, route: string): void {
    this.authorize(access, route);
  }

  /** Whether a request to `route` may be repeated safely: the route's policy, else what its service declared; undefined when neither says. */
  idempotent(route: string): boolean | undefined {
    return this.deps.policies.table.for(route).idempotent ?? this.deps.registry.declaration(route)?.idempotent;
  }

  /** Metric label for a route: unknown names collapse so clients cannot blow up cardinality. */
  label(route: string): string {
    return this.deps.registry.has(route) || this.local.has(route) || this.deps.durable?.has(route) ? route : '(unknown)';
  }

  private open(origin: RequestOrigin, model: InteractionModel, received: Payload, down: Stream, complete: boolean): StreamHandler {
    let route = '(unknown)';
    // The request outlives its frame (bulkhead wait, retries, dead letters); so do the metadata entries decoded from it.
    let payload: Payload | undefined;
    let cache: CacheTap | undefined;
    try {
      const head = headOf(origin, received.metadata);
      payload = { data: ownBytes(received.data), metadata: head.metadata };
      const entries = head.entries;
      route = head.route;
      const access = origin.access;
      this.authorize(access, route);
      const local = this.local.get(route);
      if (local) {
        if (this.draining) throw new SluiceError('UNAVAILABLE', 'gateway is draining and accepts no new requests');
        return this.openLocal(local, origin, route, model, payload, down, complete);
      }
      const identity = origin.identity;
      if (this.deps.durable?.isDurable(route)) return this.openDurable(this.deps.durable, route, model, payload, entries, down, complete, identity);
      if (model === 'response') {
        cache = this.cacheTap(route, access, payload);
        if (cache && this.serveFresh(cache, route, down)) return down.handler;
      }
      const requesterDeadlineMs = readDeadline(entries);
      const impliedDataMime = impliedMime(origin, entries);
      this.admit(route, identity);
      return new Forwarding(this.ctx, { route, model, payload, entries, requesterDeadlineMs, complete, identity, impliedDataMime, cache }, down).handler;
    } catch (err) {
      // Undecodable metadata: the request is still dead-letterable as it came.
      payload ??= own(received);
      const e = SluiceError.from(err);
      // No instance at all is an instance-side failure too: a stale answer may stand in.
      const stale = e.code === 'NO_ROUTE' ? cache?.stale(e) : undefined;
      if (stale) {
        this.deps.metrics.route(route).toRequester++;
        down.next(stale, true);
        return down.handler;
      }
      this.deps.metrics.error(this.label(route), e.code);
      origin.log.debug({ stream: down.id, route, code: e.code }, 'request refused');
      if (model !== 'fnf' && this.deadLetters.enabled && deadLetterable({ at: 'refused', model }, e.code, this.deps.policies.table.for(route))) {
        void this.deadLetters.letterThenAnswer({ route, model: 'response', payload, error: e, attempts: 0, firstFailedAt: Date.now() }, down, origin.log);
        return down.handler;
      }
      down.error(e);
      return down.handler;
    }
  }

  /**
   * Throws PERMISSION_DENIED unless the connection's grant covers `route`.
   * Checked before anything else, so a caller learns nothing about routes it
   * may not call (not even whether they exist).
   */
  private authorize(access: Access | undefined, route: string): void {
    if (!access) return;
    if (this.deps.adminRoutes?.has(route)) {
      if (!access.admin) throw permissionDenied(route, access.principal, ' (it needs an admin grant)');
      return;
    }
    if (!access.mayCall(route)) throw permissionDenied(route, access.principal);
  }

  /**
   * A command for a durable route: persisted, then acknowledged; delivered
   * later as instances ask. Accepted whether or not an instance serves the
   * route now, so no NO_ROUTE; the route's rate limit still applies.
   */
  private openDurable(durable: DurableRoutes, route: string, model: InteractionModel, payload: Payload, entries: readonly MetadataEntry[], down: Stream, complete: boolean, identity: string): StreamHandler {
    if (this.draining) throw new SluiceError('UNAVAILABLE', 'gateway is draining and accepts no new requests');
    if (model === 'stream') throw new SluiceError('INVALID_ARGUMENT', `route '${route}' is durable: it takes fire-and-forget, request-response and request-channel, not request-stream`);
    this.rateLimit(route, identity);
    const target = durable.target(route);
    this.deps.metrics.started(route, model);
    if (model === 'response') return intakeResponse(target, payload, entries, down);
    // A channel holds up to a window of commands for as long as it is open: each identity gets its share of them.
    const rt = this.deps.policies.for(route);
    const share = rt.share.tryTake(identity);
    if (!share) throw new SluiceError('OVERLOADED', `this client already has its share of ${rt.share.limit} concurrent interactions on route '${route}' (bulkhead.maxPerIdentity)`);
    return intakeChannel(target, payload, entries, complete, down, decodeEntries, share);
  }

  /** Checks that apply before any policy state exists for the route. Throws the refusal. */
  private admit(route: string, identity: string): void {
    if (this.draining) throw new SluiceError('UNAVAILABLE', 'gateway is draining and accepts no new requests');
    if (!this.deps.registry.has(route)) throw new SluiceError('NO_ROUTE', `no instance serves route '${route}'`);
    this.rateLimit(route, identity);
  }

  private rateLimit(route: string, identity: string): void {
    const rt = this.deps.policies.for(route);
    const verdict = rt.limiter?.take(identity);
    if (verdict && !verdict.ok) {
      rt.counters.rateLimited++;
      const { ratePerSec, burst } = rt.policy.rateLimit!;
      throw new SluiceError('OVERLOADED', `rate limit of ${ratePerSec}/s (burst ${burst}) for route '${route}' exceeded; retry after ${verdict.retryAfterMs} ms`, {
        details: { retryAfterMs: verdict.retryAfterMs },
      });
    }
  }

  /**
   * The cache tap of a request-response on a route whose policy caches,
   * unless the route is not idempotent (a cached answer stands for a repeat
   * of the call). With no instance left to declare it, the policy's word is
   * enough: that is when a stale answer is wanted.
   */
  private cacheTap(route: string, access: Access | undefined, payload: Payload): CacheTap | undefined {
    const caches = this.deps.caches;
    const policy = this.deps.policies.table.for(route).cache;
    if (!caches || !policy || this.idempotent(route) === false) return undefined;
    return caches.tap(caches.for(route, policy), cacheKey(scopeOf(access), payload.data));
  }

  /**
   * Answers from the cache when a fresh answer is held. Served before the
   * rate limit and the bulkhead: a cached answer costs no instance anything.
   */
  private serveFresh(cache: CacheTap, route: string, down: Stream): boolean {
    const answer = cache.fresh();
    if (!answer) return false;
    if (this.draining) throw new SluiceError('UNAVAILABLE', 'gateway is draining and accepts no new requests');
    this.deps.metrics.started(route, 'response');
    this.deps.metrics.route(route).toRequester++;
    down.next(answer, true);
    return true;
  }

  private fireAndForget(origin: RequestOrigin, payload: Payload): void {
    let route = '(unknown)';
    try {
      const entries = decodeEntries(payload.metadata);
      route = routeOf(entries);
      this.authorize(origin.access, route);
      const durable = this.deps.durable;
      if (durable?.isDurable(route)) {
        if (this.draining) throw new SluiceError('UNAVAILABLE', 'gateway is draining and accepts no new requests');
        this.rateLimit(route, origin.identity);
        const target = durable.target(route);
        this.deps.metrics.route(route).toResponder++;
        void intakeFireAndForget(target, payload, entries).then((e) => {
          if (!e) return;
          this.deps.metrics.error(route, e.code);
          this.warnOnce(origin, 'fnf-durable-refused', 'durable fire-and-forget refused', route, e);
        });
        return;
      }
      const implied = impliedMime(origin, entries);
      this.admit(route, origin.identity);
      const instance = this.pickWritable(route);
      const instanceMime = instance.connection.setup?.dataMimeType ?? MimeTypes.JSON;
      instance.connection.fireAndForget(implied === undefined || implied === instanceMime ? payload : { data: payload.data, metadata: encodeComposite([...entries, streamMimeEntry(implied)]) });
      this.deps.metrics.route(route).toResponder++;
    } catch (err) {
      // Fire-and-forget has no reply: the loss is counted, logged and, where the policy says so, dead-lettered.
      const e = SluiceError.from(err);
      this.deps.metrics.error(this.label(route), e.code);
      if (e.code === 'PERMISSION_DENIED') {
        // Never dead-lettered (that would let anyone fill the queue), and logged sparingly: a flood must not flood the log.
        this.warnOnce(origin, 'fnf-denied', 'fire-and-forget denied', route, e);
        return;
      }
      const served = this.deps.registry.has(route);
      if (this.deadLetters.enabled && served && deadLetterable({ at: 'fnf', served }, e.code, this.deps.policies.for(route).policy)) {
        void this.deadLetters.letterFireAndForget({ route, model: 'fnf', payload, error: e, attempts: 1, firstFailedAt: Date.now() }, origin.log);
        return;
      }
      // A peer can send these as fast as its socket allows.
      this.warnOnce(origin, 'fnf-dropped', 'fire-and-forget dropped', route, e);
    }
  }

  /** A warning a peer can repeat at will: one line per peer, kind and route per interval, with the count. */
  private warnOnce(origin: RequestOrigin, kind: string, msg: string, route: string, e: SluiceError): void {
    const fields = { route, code: e.code, reason: e.message };
    if (this.warnings) this.warnings.warn(`${peerHost(origin.remoteAddress)}|${kind}|${this.label(route)}|${e.code}`, fields, msg, origin.log);
    else origin.log.warn(fields, msg);
  }

  /**
   * Fire-and-forget has no demand to pace it, so it goes only to an instance
   * that is reading: bytes queued for one that is not would grow until its
   * connection is cut for SLOW_CONSUMER, failing everything else in flight
   * on it. With none reading, the message is shed (OVERLOADED).
   */
  private pickWritable(route: string): Instance {
    const registry = this.deps.registry;
    const first = registry.pick(route);
    if (!first) throw new SluiceError('NO_ROUTE', `no instance serves route '${route}'`);
    if (first.connection.writable) return first;
    const congested = new Set(registry.candidates(route).filter((i) => !i.connection.writable));
    const other = registry.pick(route, congested);
    if (other) return other;
    throw new SluiceError('OVERLOADED', `every instance of route '${route}' is behind on reading; fire-and-forget dropped`);
  }

  private openLocal(handlers: LocalRoute, origin: RequestOrigin, route: string, model: InteractionModel, payload: Payload, down: Stream, complete: boolean): StreamHandler {
    this.deps.metrics.started(route, model);
    if (model === 'response' && handlers.requestResponseFrom) return handlers.requestResponseFrom(origin, payload, down);
    if (model === 'channel' && handlers.requestChannel) return handlers.requestChannel(payload, complete, down);
    const handler = model === 'response' ? handlers.requestResponse : model === 'stream' ? handlers.requestStream : undefined;
    if (!handler) throw new SluiceError('INVALID_ARGUMENT', `route '${route}' does not serve ${model} requests`);
    return handler(payload, down);
  }
}

/**
 * A connection as the origin of its requests, made once per connection:
 * building an object with getters per request showed in the gateway's
 * request-response profile. Access and identity are still read per request.
 */
class ConnectionOrigin implements RequestOrigin {
  /** The connection's last request metadata, decoded: a client calling one route sends the same bytes every time. */
  readonly heads = new RequestHeads(HEAD_DECODER);

  constructor(
    private readonly conn: Connection,
    private readonly deps: ForwarderDependencies,
  ) {}

  get log(): Logger {
    return this.conn.log;
  }

  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  get dataMimeType(): string | undefined {
    return this.conn.setup?.dataMimeType;
  }

  get access(): Access | undefined {
    return this.deps.accessOf?.(this.conn);
  }

  get identity(): string {
    return this.deps.identityOf(this.conn);
  }
}

/**
 * The payload in buffers of its own. A transport hands frames over as views
 * into its read buffers (the TCP splitter's can be megabytes); a view kept for
 * the life of an interaction would pin the whole buffer, so a client could
 * make each long-lived stream hold far more than its request.
 */
function own(p: Payload): Payload {
  return { data: ownBytes(p.data), metadata: ownBytes(p.metadata) };
}

/** How a request's metadata is read: entries, then the route, each throwing the request's refusal. */
const HEAD_DECODER: HeadDecoder = { entries: decodeEntries, route: routeOf };

/**
 * The request's metadata in bytes of its own, decoded: from the connection's
 * last-head cache (request-heads.ts), or decoded afresh for other origins
 * (the HTTP bridge builds its metadata per request).
 */
function headOf(origin: RequestOrigin, metadata: Uint8Array | null): RequestHead {
  if (origin instanceof ConnectionOrigin) return origin.heads.read(metadata);
  const owned = ownBytes(metadata);
  const entries = decodeEntries(owned);
  return { metadata: owned, entries, route: routeOf(entries) };
}

/** MIME types the gateway can write back when it rewrites the metadata (deadline, fallback route). */
const WRITABLE_MIME = /^[\x20-\x7e]{1,128}$/;

function decodeEntries(metadata: Uint8Array | null): MetadataEntry[] {
  let entries: MetadataEntry[];
  try {
    entries = metadata && metadata.length > 0 ? decodeComposite(metadata) : [];
  } catch (err) {
    if (err instanceof MetadataError) throw new SluiceError('INVALID_ARGUMENT', `metadata: ${err.message}`);
    throw err;
  }
  // The extension spec makes MIME types US-ASCII. One that is not would decode here and then fail
  // to re-encode mid-interaction, with a slot, an instance and a breaker probe already taken.
  for (const e of entries) {
    if (!WRITABLE_MIME.test(e.mimeType)) throw new SluiceError('INVALID_ARGUMENT', `metadata: mime type ${JSON.stringify(e.mimeType)} is not printable US-ASCII`);
  }
  return entries;
}

/**
 * The requester's data MIME type (its SETUP's; JSON over the HTTP bridge)
 * when the request does not name its own (undefined when it does, after
 * checking the entry). Throws INVALID_ARGUMENT for a malformed per-stream entry.
 */
function impliedMime(origin: RequestOrigin, entries: readonly MetadataEntry[]): string | undefined {
  const own = entries.find((e) => e.mimeType === STREAM_MIME_TYPE);
  if (!own) return origin.dataMimeType ?? MimeTypes.JSON;
  try {
    decodeStreamMime(own.content);
  } catch (err) {
    if (err instanceof MetadataError) throw new SluiceError('INVALID_ARGUMENT', `metadata: ${err.message}`);
    throw err;
  }
  return undefined;
}

function routeOf(entries: readonly MetadataEntry[]): string {
  const entry = entries.find((e) => e.mimeType === MimeTypes.ROUTING);
  let route: string | undefined;
  try {
    route = entry ? decodeRoutes(entry.content)[0] : undefined;
  } catch (err) {
    if (err instanceof MetadataError) throw new SluiceError('INVALID_ARGUMENT', `metadata: ${err.message}`);
    throw err;
  }
  if (route === undefined) {
    throw new SluiceError('INVALID_ARGUMENT', 'request metadata has no route (composite metadata entry message/x.rsocket.routing.v0)');
  }
  return route;
}
