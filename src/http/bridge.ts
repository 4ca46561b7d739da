/**
 * The HTTP bridge: plain HTTP callers on the gateway's own port (and TLS),
 * for synchronous clients and polling as a last resort.
 *
 *   POST /v1/routes/{route}                 request-response, JSON in and out
 *   GET  /v1/routes/{route}?k=v             request-response on idempotent routes: ETag, 304, Cache-Control
 *   GET  /v1/streams/{route}?k=v            request-stream as Server-Sent Events
 *   (or GET /v1/routes/{route} with Accept: text/event-stream)
 *
 * Every request is authenticated like a SETUP (Authorization: Bearer, or the
 * anonymous grant, or open mode), checked against the grant, and then goes
 * through the forwarder like an RSocket request: the same admission, route
 * policies, response cache and demand bridges. Errors are problem+json with
 * the Sluice code (problem.ts).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import client from 'prom-client';
import { SluiceError } from '../errors.js';
import { Access } from '../auth/permissions.js';
import { MAX_TOKEN_BYTES } from '../auth/bearer.js';
import type { Principal } from '../auth/grant.js';
import type { Forwarder, RequestOrigin } from '../broker/forwarder.js';
import type { Logger } from '../observability/log.js';
import type { CachePolicy } from '../policy/policy-config.js';
import { readCacheMark } from '../policy/response-cache.js';
import { MimeTypes, encodeComposite, encodeRoutes, type MetadataEntry } from '../protocol/metadata.js';
import { parseTraceparent, traceContextEntry } from '../protocol/trace-context.js';
import { parsePosition, resumeAfterEntry } from '../protocol/resume-after.js';
import type { Payload } from '../protocol/frames.js';
import { deadlineEntry } from '../resilience/deadline.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import type { MemoryBudget } from '../rsocket/memory-budget.js';
import { HttpAdmission } from './admission.js';
import { EventStreamWriter } from './event-stream.js';
import { HttpExchange } from './exchange.js';
import { sendProblem } from './problem.js';
import type { TokenCache } from './token-cache.js';
import { queryPayload } from './query-payload.js';
import { readBody } from './request-body.js';

/** The request header carrying a deadline in ms (1 to 2^32-1), as the deadline metadata entry does on RSocket. */
export const DEADLINE_HEADER = 'sluice-deadline-ms';

export interface HttpBridgeOptions {
  /** Largest request body in bytes (limits.maxPayloadSize); larger is 413. */
  maxPayloadSize: number;
  /** HTTP requests and event streams in flight at once; more are 503. */
  maxConcurrent: number;
  /** Of them, from one address; more are 429. */
  maxConcurrentPerAddress: number;
  /** Items an event stream asks of its producer ahead of what it has written. */
  sseWindow: number;
  /** Interval of heartbeat comments on event streams, in ms. */
  sseHeartbeatMs: number;
  /** Tokens are honoured this long past `exp` (auth.clockSkewMs); an event stream ends then. */
  clockSkewMs: number;
}

export interface HttpBridgeDependencies {
  readonly forwarder: Forwarder;
  /** The principal of a request: its bearer token (undefined without one) from `remoteAddress`. */
  authenticate(token: string | undefined, remoteAddress: string): Principal | Promise<Principal>;
  /** The identity for rate limits and shares: the principal's, or (open mode) the token's or address's. */
  identityOf(principal: Principal, token: string | undefined, remoteAddress: string): string;
  /** The cache policy of a route, for Cache-Control. */
  cachePolicy(route: string): CachePolicy | null;
  /** Whether a route's streams resume from a position (its policy's `resumable`), for `Last-Event-ID`. */
  resumable(route: string): boolean;
  /** Verified tokens remembered between requests (auth on); without it every request verifies its token. */
  readonly tokens?: TokenCache<Access> | undefined;
  readonly memory?: MemoryBudget;
  readonly log: Logger;
  readonly metrics?: client.Registry;
}

export interface HttpBridge {
  /** Serves `req` when it is a bridge path (`/v1/...`); false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  readonly admission: HttpAdmission;
}

const ROUTE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/;

export function createHttpBridge(deps: HttpBridgeDependencies, options: HttpBridgeOptions): HttpBridge {
  const admission = new HttpAdmission(options.maxConcurrent, options.maxConcurrentPerAddress);
  const answered = deps.metrics
    ? new client.Counter({ name: 'sluice_http_requests_total', help: 'HTTP bridge requests by endpoint (routes, streams) and status', labelNames: ['endpoint', 'status'], registers: [deps.metrics] })
    : undefined;
  if (deps.metrics) {
    // Registered with auth off too (then 0), so every gateway exports the same families.
    const tokens = deps.tokens;
    new client.Gauge({
      name: 'sluice_http_token_cache_entries',
      help: 'Verified bearer tokens the HTTP bridge remembers (bounded by http.tokenCacheEntries)',
      registers: [deps.metrics],
      collect() {
        this.set(tokens?.size ?? 0);
      },
    });
    new client.Counter({
      name: 'sluice_http_token_cache_lookups_total',
      help: 'HTTP bridge bearer token lookups by result: hit (no signature check) or miss (verified)',
      labelNames: ['result'],
      registers: [deps.metrics],
      collect() {
        this.reset();
        this.inc({ result: 'hit' }, tokens?.hits ?? 0);
        this.inc({ result: 'miss' }, tokens?.misses ?? 0);
      },
    });
  }
  if (deps.metrics) {
    new client.Gauge({
      name: 'sluice_http_in_flight',
      help: 'HTTP bridge requests and event streams in flight (bounded by http.maxConcurrent)',
      registers: [deps.metrics],
      collect() {
        this.set(admission.inFlight);
      },
    });
  }

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://bridge');
    const match = /^\/v1\/(routes|streams)\/(.+)$/.exec(url.pathname);
    if (!match && !url.pathname.startsWith('/v1/')) return false;
    const endpoint = match?.[1] ?? 'other';
    res.once('finish', () => answered?.inc({ endpoint, status: res.statusCode }));
    if (!match) {
      sendProblem(res, new SluiceError('NO_ROUTE', `no HTTP endpoint at ${url.pathname}; the bridge serves /v1/routes/{route} and /v1/streams/{route}`));
      return true;
    }
    void serve(req, res, endpoint as 'routes' | 'streams', match[2]!, url.searchParams).catch((err: unknown) => {
      deps.log.warn({ err: (err as Error).message }, 'HTTP bridge request failed');
      sendProblem(res, SluiceError.from(err));
    });
    return true;
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, endpoint: 'routes' | 'streams', rawRoute: string, query: URLSearchParams): Promise<void> => {
    const method = req.method ?? 'GET';
    const sse = endpoint === 'streams' || (method === 'GET' && (req.headers.accept ?? '').includes('text/event-stream'));
    const allowed = endpoint === 'streams' ? 'GET' : 'GET, POST';
    if (!allowed.split(', ').includes(method)) {
      return sendProblem(res, new SluiceError('INVALID_ARGUMENT', `${method} is not served on /v1/${endpoint}/; use ${allowed}`), { status: 405, headers: { allow: allowed } });
    }
    let route: string;
    try {
      route = decodeURIComponent(rawRoute);
    } catch {
      route = '';
    }
    if (!ROUTE.test(route)) return sendProblem(res, new SluiceError('INVALID_ARGUMENT', `'${rawRoute.slice(0, 64)}' is not a route name`));
    const remote = req.socket.remoteAddress ?? '?';
    let release: () => void;
    try {
      release = admission.admit(remote);
    } catch (err) {
      return sendProblem(res, SluiceError.from(err));
    }
    res.once('close', release);

    try {
      const token = bearerOf(req);
      const access = await accessOf(token, remote);
      const principal = access.principal;
      // Before anything about the route: a caller learns nothing of routes it may not call.
      deps.forwarder.checkCall(access, route);
      const deadline = deadlineOf(req);
      const resumeAfter = sse ? lastEventIdOf(req) : undefined;
      // Never a silent restart: a caller that names a position either resumes from it or is told it cannot.
      if (resumeAfter !== undefined && !deps.resumable(route)) {
        throw new SluiceError('RESUME_UNSUPPORTED', `route '${route}' cannot resume a stream from a position (Last-Event-ID ${resumeAfter}); reconnect without Last-Event-ID to start from the beginning`);
      }
      if (!sse && method === 'GET' && deps.forwarder.idempotent(route) === false) {
        throw Object.assign(new SluiceError('INVALID_ARGUMENT', `route '${route}' is not idempotent; GET serves idempotent routes only, call it with POST`), { httpStatus: 405 });
      }
      const data = method === 'POST' ? await jsonBody(req, options.maxPayloadSize, deps.memory) : new TextEncoder().encode(JSON.stringify(queryPayload(query)));
      if (data && data.length > options.maxPayloadSize) throw new SluiceError('PAYLOAD_TOO_LARGE', `the request is ${data.length} bytes; limits.maxPayloadSize is ${options.maxPayloadSize}`);
      const entries: MetadataEntry[] = [{ mimeType: MimeTypes.ROUTING, content: encodeRoutes(route) }];
      if (deadline !== undefined) entries.push(deadlineEntry(deadline));
      if (resumeAfter !== undefined) entries.push(resumeAfterEntry(resumeAfter));
      // W3C trace context from the standard headers; a malformed one is ignored (a new trace starts), as the spec says.
      const traceparent = req.headers.traceparent;
      if (typeof traceparent === 'string' && parseTraceparent(traceparent)) {
        const tracestate = typeof req.headers.tracestate === 'string' ? req.headers.tracestate : undefined;
        entries.push(traceContextEntry(tracestate ? { traceparent, tracestate } : { traceparent }));
      }
      const payload: Payload = { data, metadata: encodeComposite(entries) };
      const origin: RequestOrigin = { log: deps.log, remoteAddress: `${remote}:${req.socket.remotePort ?? 0}`, access, identity: deps.identityOf(principal, token, remote) };
      if (res.destroyed) return;
      if (sse) streamEvents(res, route, origin, payload, principal, resumeAfter);
      else respond(req, res, route, origin, payload, method === 'GET');
    } catch (err) {
      const e = SluiceError.from(err);
      const status = (err as { httpStatus?: number }).httpStatus;
      sendProblem(res, e, status === 405 ? { status, headers: { allow: 'POST' } } : status ? { status } : {});
    }
  };

  /** The caller's permissions: remembered for a token verified before (and still valid), else verified now. */
  const accessOf = async (token: string | undefined, remote: string): Promise<Access> => {
    const tokens = deps.tokens;
    if (token === undefined || !tokens) return new Access(await deps.authenticate(token, remote));
    const cached = tokens.get(token);
    if (cached) return cached;
    const generation = tokens.generation;
    const access = new Access(await deps.authenticate(token, remote));
    tokens.set(token, access, access.principal.expiresAt, generation);
    return access;
  };

  const respond = (req: IncomingMessage, res: ServerResponse, route: string, origin: RequestOrigin, payload: Payload, get: boolean): void => {
    const exchange = new HttpExchange('response', res, {
      next: (p) => {
        const body = p.data ?? new Uint8Array(0);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const mark = readCacheMark(p.metadata);
        if (mark) {
          headers.age = String(Math.floor(mark.ageMs / 1000));
          headers['sluice-cache'] = mark.state;
          if (mark.state === 'stale') headers.warning = `110 - "Response is Stale" (${mark.error ?? 'error'})`;
        }
        if (get) {
          const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
          headers.etag = etag;
          headers['cache-control'] = cacheControl(deps.cachePolicy(route));
          if (matches(req.headers['if-none-match'], etag)) {
            res.writeHead(304, headers).end();
            return;
          }
        } else {
          headers['cache-control'] = 'no-store';
        }
        res.writeHead(body.length ? 200 : 204, headers).end(body.length ? body : undefined);
      },
      // A response with no payload: the route answered nothing.
      complete: () => {
        if (!res.headersSent) res.writeHead(204, { 'cache-control': 'no-store' }).end();
      },
      error: (e) => sendProblem(res, e),
    });
    res.once('close', () => exchange.cancel());
    exchange.attach(deps.forwarder.request(origin, 'response', payload, exchange.stream));
  };

  const streamEvents = (res: ServerResponse, route: string, origin: RequestOrigin, payload: Payload, principal: Principal, resumeAfter: number | undefined): void => {
    // The writer asks the exchange for demand, and the exchange hands the writer its signals.
    const writerOptions = { window: options.sseWindow, heartbeatMs: options.sseHeartbeatMs, ...(resumeAfter !== undefined ? { resumeAfter } : {}) };
    const writer: EventStreamWriter = new EventStreamWriter(res, writerOptions, (n) => exchange.request(n));
    const exchange = new HttpExchange('stream', res, {
      next: (p) => writer.next(p),
      complete: () => writer.complete(),
      error: (e) => writer.error(e),
    });
    exchange.stream.sendCredit = options.sseWindow;
    // As a connection is closed when its token expires, so is a stream.
    const expiresAt = principal.expiresAt;
    const cancelExpiry =
      expiresAt === undefined
        ? () => {}
        : setLongTimeout(() => {
            exchange.cancel();
            writer.error(new SluiceError('UNAUTHENTICATED', `token expired at ${new Date(expiresAt).toISOString()}`));
          }, expiresAt + options.clockSkewMs - Date.now());
    res.once('close', () => {
      cancelExpiry();
      writer.close();
      exchange.cancel();
    });
    exchange.attach(deps.forwarder.request(origin, 'stream', payload, exchange.stream));
    // A refusal already answered with its own status; otherwise the stream starts now.
    if (!res.headersSent && !res.writableEnded) writer.start();
    deps.log.debug({ route, stream: exchange.id }, 'HTTP event stream opened');
  };

  return { handle, admission };
}

/** The bearer token of `Authorization`, undefined without the header. Throws UNAUTHENTICATED when malformed. */
function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h);
  if (!m) throw new SluiceError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
  if (m[1]!.length > MAX_TOKEN_BYTES) throw new SluiceError('UNAUTHENTICATED', `the bearer token is over the ${MAX_TOKEN_BYTES}-byte limit`);
  return m[1];
}

/** The Sluice-Deadline-Ms header in ms, undefined without one. Throws INVALID_ARGUMENT when it is not an integer from 1 to 2^32-1. */
function deadlineOf(req: IncomingMessage): number | undefined {
  const h = req.headers[DEADLINE_HEADER];
  if (h === undefined) return undefined;
  const v = Array.isArray(h) ? h[0] : h;
  if (!/^\d{1,10}$/.test(v ?? '') || Number(v) < 1 || Number(v) > 0xffffffff) {
    throw new SluiceError('INVALID_ARGUMENT', `${DEADLINE_HEADER} must be a whole number of milliseconds from 1 to 4294967295, got '${String(v).slice(0, 32)}'`);
  }
  return Number(v);
}

/** The Last-Event-ID header as a position, undefined without one. Throws INVALID_ARGUMENT when it is not one of our event ids. */
function lastEventIdOf(req: IncomingMessage): number | undefined {
  const h = req.headers['last-event-id'];
  if (h === undefined) return undefined;
  const v = (Array.isArray(h) ? h[0] : h) ?? '';
  const position = parsePosition(v.trim());
  if (position === undefined) throw new SluiceError('INVALID_ARGUMENT', `Last-Event-ID must be an event id this bridge sent (a whole number), got '${v.slice(0, 32)}'`);
  return position;
}

/** A POST body: JSON (checked to parse), or null when empty. */
async function jsonBody(req: IncomingMessage, maxBytes: number, memory: MemoryBudget | undefined): Promise<Uint8Array | null> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = await readBody(req, maxBytes, memory);
  if (body.length === 0) return null;
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw Object.assign(new SluiceError('INVALID_ARGUMENT', `the request body must be application/json, got '${type || 'no content type'}'`), { httpStatus: 415 });
  }
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `the request body is not JSON: ${(err as Error).message}`);
  }
  return body;
}

/** Cache-Control of a GET answer: the route's cache policy for private caches, or revalidate every time. */
function cacheControl(policy: CachePolicy | null): string {
  if (!policy) return 'private, no-cache';
  const staleIfError = policy.staleIfErrorMs > 0 ? `, stale-if-error=${Math.floor(policy.staleIfErrorMs / 1000)}` : '';
  return `private, max-age=${Math.floor(policy.ttlMs / 1000)}${staleIfError}`;
}

/** If-None-Match against our strong ETag (weak comparison, per RFC 9110 13.1.2). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}
