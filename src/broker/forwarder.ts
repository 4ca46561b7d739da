/**
 * Forwards the four interaction models from a requester's connection to the
 * chosen instance's connection, carrying demand hop by hop (see
 * flow/demand-bridge.ts) and cancellation and errors both ways.
 *
 * Payload frames pass through without re-encoding: only their stream id is
 * rewritten. Request frames are re-encoded once (new stream id, demand capped
 * by the window).
 */
import { SluiceError } from '../errors.js';
import { DemandBridge } from '../flow/demand-bridge.js';
import { MetadataError, findRoute } from '../protocol/metadata.js';
import type { Payload } from '../protocol/frames.js';
import type { Connection, Responder } from '../rsocket/connection.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import type { GatewayMetrics, RouteCounters } from '../observability/metrics.js';
import type { Instance, Registry } from './registry.js';

export interface ForwarderOptions {
  /** Most items outstanding upstream per stream and direction. */
  window: number;
  /** Most bytes outstanding upstream per stream and direction (estimated from the average item size). */
  windowBytes: number;
}

/** One forwarded interaction, alive from request to its last frame either way. */
export interface Interaction {
  readonly route: string;
  readonly model: InteractionModel;
  readonly instance: Instance;
  readonly startedAt: number;
  /** The connection of the requester (the consumer of the responder's payloads), for stats. */
  readonly requester: Connection;
  /** Consumer demand and producer demand, for metrics. */
  demand(): { consumer: number; producer: number };
  /** Average size in bytes of the payloads passed to the requester so far (0 before the first). */
  averageItemBytes(): number;
}

/** A route served inside the gateway process (sluice.* routes). */
export type LocalRoute = Partial<Pick<Responder, 'requestResponse' | 'requestStream' | 'requestChannel'>>;

export class Forwarder {
  readonly live = new Set<Interaction>();
  private draining = false;

  constructor(
    private readonly registry: Registry,
    private readonly metrics: GatewayMetrics,
    private readonly options: ForwarderOptions,
    private readonly log: Logger,
    private readonly local: ReadonlyMap<string, LocalRoute> = new Map(),
  ) {}

  /** From now on new interactions are refused with UNAVAILABLE; running ones go on. */
  drain(): void {
    this.draining = true;
  }

  /** The responder for one accepted connection. */
  responderFor(conn: Connection): Responder {
    return {
      fireAndForget: (payload) => this.fireAndForget(conn, payload),
      requestResponse: (payload, down) => this.open(conn, 'response', payload, down, false),
      requestStream: (payload, down) => this.open(conn, 'stream', payload, down, false),
      requestChannel: (payload, complete, down) => this.open(conn, 'channel', payload, down, complete),
    };
  }

  private fireAndForget(conn: Connection, payload: Payload): void {
    let route = '(unknown)';
    try {
      route = this.routeOf(payload);
      const target = this.target(route);
      target.connection.fireAndForget(payload);
      this.metrics.route(route).toResponder++;
    } catch (err) {
      // Fire-and-forget has no reply: the loss is counted and logged, never silent.
      const e = SluiceError.from(err);
      this.metrics.error(this.label(route), e.code);
      conn.log.warn({ route, code: e.code, reason: e.message }, 'fire-and-forget dropped');
    }
  }

  private open(conn: Connection, model: InteractionModel, payload: Payload, down: Stream, complete: boolean): StreamHandler {
    let route = '(unknown)';
    try {
      route = this.routeOf(payload);
      const localRoute = this.local.get(route);
      if (localRoute) return this.openLocal(localRoute, route, model, payload, down, complete);
      const instance = this.target(route);
      return new Forwarding(this, route, model, instance, conn, payload, down, complete).handler;
    } catch (err) {
      const e = SluiceError.from(err);
      this.metrics.error(this.label(route), e.code);
      conn.log.debug({ stream: down.id, route, code: e.code }, 'request refused');
      down.error(e);
      return down.handler;
    }
  }

  private openLocal(handlers: LocalRoute, route: string, model: InteractionModel, payload: Payload, down: Stream, complete: boolean): StreamHandler {
    this.metrics.started(route, model);
    const handler =
      model === 'response' ? handlers.requestResponse : model === 'stream' ? handlers.requestStream : undefined;
    if (model === 'channel' && handlers.requestChannel) return handlers.requestChannel(payload, complete, down);
    if (!handler) throw new SluiceError('INVALID_ARGUMENT', `route '${route}' does not serve ${model} requests`);
    return handler(payload, down);
  }

  private routeOf(payload: Payload): string {
    let route: string | undefined;
    try {
      route = findRoute(payload.metadata);
    } catch (err) {
      if (err instanceof MetadataError) throw new SluiceError('INVALID_ARGUMENT', `metadata: ${err.message}`);
      throw err;
    }
    if (route === undefined) {
      throw new SluiceError('INVALID_ARGUMENT', 'request metadata has no route (composite metadata entry message/x.rsocket.routing.v0)');
    }
    return route;
  }

  private target(route: string): Instance {
    if (this.draining) throw new SluiceError('UNAVAILABLE', 'gateway is draining and accepts no new requests');
    const instance = this.registry.pick(route);
    if (!instance) throw new SluiceError('NO_ROUTE', `no instance serves route '${route}'`);
    return instance;
  }

  /** Metric label for a route: unknown names collapse so clients cannot blow up cardinality. */
  label(route: string): string {
    return this.registry.has(route) || this.local.has(route) ? route : '(unknown)';
  }

  /** @internal */
  get window(): number {
    return this.options.window;
  }

  /** @internal */
  get windowBytes(): number {
    return this.options.windowBytes;
  }

  /** @internal */
  get metricsSink(): GatewayMetrics {
    return this.metrics;
  }

  /** @internal */
  get logger(): Logger {
    return this.log;
  }
}

/**
 * One interaction in flight: the requester's stream (`down`) and the
 * instance's stream (`up`), with a demand bridge per direction that carries
 * payloads (instance -> requester always; requester -> instance for channels).
 */
class Forwarding implements Interaction {
  readonly startedAt = performance.now();
  readonly handler: StreamHandler;
  private readonly up: Stream;
  private readonly counters: RouteCounters;
  private readonly toRequester: DemandBridge | undefined;
  private readonly toResponder: DemandBridge | undefined;
  private firstSeen = false;
  private finished = false;

  constructor(
    private readonly fwd: Forwarder,
    readonly route: string,
    readonly model: InteractionModel,
    readonly instance: Instance,
    readonly requester: Connection,
    payload: Payload,
    private readonly down: Stream,
    complete: boolean,
  ) {
    const upConn = instance.connection;
    const downConn = down.host;
    this.counters = fwd.metricsSink.route(route);
    fwd.metricsSink.started(route, model);
    this.handler = this.downHandler();
    if (model !== 'response') {
      this.toRequester = new DemandBridge({
        window: fwd.window,
        windowBytes: fwd.windowBytes,
        requestUpstream: (n) => this.up.request(n),
        writable: () => downConn.writable,
        whenWritable: (fn) => downConn.whenWritable(fn),
      });
    }
    if (model === 'channel') {
      this.toResponder = new DemandBridge({
        window: fwd.window,
        windowBytes: fwd.windowBytes,
        requestUpstream: (n) => this.down.request(n),
        writable: () => upConn.writable,
        whenWritable: (fn) => upConn.whenWritable(fn),
      });
    }
    const upHandler = this.upHandler();
    if (model === 'response') this.up = upConn.requestResponse(payload, upHandler);
    else if (model === 'stream') this.up = upConn.requestStream(payload, this.toRequester!.open(down.sendCredit), upHandler);
    else this.up = upConn.requestChannel(payload, this.toRequester!.open(down.sendCredit), complete, upHandler);
    instance.active++;
    fwd.live.add(this);
  }

  demand(): { consumer: number; producer: number } {
    const b = this.toRequester;
    if (!b) return { consumer: this.finished ? 0 : 1, producer: this.finished ? 0 : 1 };
    return { consumer: Math.min(b.credit, 0x7fffffff), producer: b.inflight };
  }

  averageItemBytes(): number {
    return this.toRequester?.averageItemBytes ?? 0;
  }

  private upHandler(): StreamHandler {
    return {
      onNext: (payload, frame) => {
        this.counters.toRequester++;
        this.markFirst();
        if (frame) this.down.forward(frame);
        else this.down.next(payload, this.model === 'response');
        this.toRequester?.onItem(frame?.length ?? size(payload));
        this.settle();
      },
      onComplete: () => {
        this.down.complete();
        this.settle();
      },
      onError: (error) => {
        const e = error.code === 'UNAVAILABLE' && !this.instance.connection.isOpen
          ? new SluiceError('UNAVAILABLE', `instance '${this.instance.id}' of service '${this.instance.service}' disconnected`)
          : error;
        this.fwd.metricsSink.error(this.route, e.code);
        this.down.error(e);
        this.finish();
      },
      // Channel only: the instance grants the requester more input.
      onRequest: (n) => this.toResponder?.onRequest(n),
      // Channel only: the instance wants no more input.
      onCancel: () => {
        this.down.cancel();
        this.settle();
      },
    };
  }

  private downHandler(): StreamHandler {
    return {
      // Channel only: one input payload from the requester.
      onNext: (payload, frame) => {
        this.counters.toResponder++;
        if (frame) this.up.forward(frame);
        else this.up.next(payload);
        this.toResponder?.onItem(frame?.length ?? size(payload));
        this.settle();
      },
      onComplete: () => {
        this.up.complete();
        this.settle();
      },
      onRequest: (n) => this.toRequester?.onRequest(n),
      onCancel: () => {
        this.up.cancel();
        this.finish();
      },
      // The requester's connection went away, or it broke demand on a channel.
      onError: (error) => {
        if (error.code !== 'UNAVAILABLE') this.fwd.metricsSink.error(this.route, error.code);
        this.up.cancel();
        this.finish();
      },
    };
  }

  private markFirst(): void {
    if (this.firstSeen) return;
    this.firstSeen = true;
    this.fwd.metricsSink.observe(this.route, this.model, (performance.now() - this.startedAt) / 1000);
  }

  private settle(): void {
    if (this.up.closed && this.down.closed) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.firstSeen) {
      this.firstSeen = true;
      this.fwd.metricsSink.observe(this.route, this.model, (performance.now() - this.startedAt) / 1000);
    }
    this.toRequester?.stop();
    this.toResponder?.stop();
    this.instance.active--;
    this.fwd.live.delete(this);
  }
}

function size(p: Payload): number {
  return (p.data?.length ?? 0) + (p.metadata?.length ?? 0);
}
