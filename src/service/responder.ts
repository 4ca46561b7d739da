/**
 * Turns a service's route table into the RSocket responder its connection
 * runs: decodes route and JSON, calls the handler, and feeds results back
 * with honest demand (flow/emitters.ts). Handler failures become coded
 * errors for the requester; a handler that throws a SluiceError chooses the
 * code (INVALID_ARGUMENT and friends), anything else is INTERNAL.
 *
 * One responder serves every gateway connection of an instance, so its
 * count of requests in progress is the instance's: beyond `maxConcurrent`
 * new requests are refused with OVERLOADED, whichever gateway sent them.
 */
import { isObservable } from 'rxjs';
import { SluiceError } from '../errors.js';
import { emitIterable, emitObservable, type Emitter, type Outbound } from '../flow/emitters.js';
import { PullQueue } from '../flow/pull-queue.js';
import { decodeJson, encodeJson } from '../protocol/json.js';
import { MetadataError, MimeTypes, decodeComposite, decodeRoutes, type MetadataEntry } from '../protocol/metadata.js';
import type { Payload } from '../protocol/frames.js';
import type { Responder } from '../rsocket/connection.js';
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import { readDeadline } from '../resilience/deadline.js';
import { isJsonMime, readStreamMime } from '../protocol/stream-mime.js';
import { readTraceContext, type TraceContext } from '../protocol/trace-context.js';
import { readResumeAfter } from '../protocol/resume-after.js';
import type { TraceSpan, Tracer } from '../observability/tracing.js';
import { WaitClock, roundMs } from '../observability/wait-clock.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import type { RouteHandlers, RouteTable, StreamContext, StreamResult } from './handlers.js';
import { copyOf } from '../protocol/copy-bytes.js';

const noop = (): void => {};

/** The handler method each interaction model calls. */
const METHODS = { fnf: 'fireAndForget', response: 'requestResponse', stream: 'requestStream', channel: 'requestChannel' } as const satisfies Record<InteractionModel | 'fnf', keyof RouteHandlers>;

interface Decoded {
  route: string;
  metadata: MetadataEntry[];
  handlers: RouteHandlers;
  data: unknown;
  /** Remaining time the gateway passed along, in ms. */
  deadlineMs: number | undefined;
  /** The request's data MIME type (its per-stream entry, else application/json). */
  dataMimeType: string;
}

/** Who spans are attributed to, and the tracer making them (tracing on). */
export interface ResponderTracing {
  readonly tracer: Tracer;
  readonly service: string;
  readonly instance: string;
}

export interface ServiceResponderOptions {
  /** Requests in progress at once over every connection it serves; beyond, OVERLOADED (fire-and-forget: dropped, logged). Default 65536. */
  maxConcurrent: number;
}

export interface ServiceResponder extends Responder {
  /** Requests in progress now: handlers running, streams and channels open. */
  readonly inFlight: number;
}

export function createServiceResponder(routes: RouteTable, log: Logger, tracing?: ResponderTracing, options: Partial<ServiceResponderOptions> = {}): ServiceResponder {
  const maxConcurrent = options.maxConcurrent ?? 65_536;
  let inFlight = 0;
  const release = () => inFlight--;
  const overloaded = () => new SluiceError('OVERLOADED', `this instance serves ${maxConcurrent} requests at once (its maxConcurrent)`);
  /** Takes a slot for a new request; false (and nothing taken) at the cap. */
  const admit = (): boolean => {
    if (inFlight >= maxConcurrent) return false;
    inFlight++;
    return true;
  };
  const decode = (payload: Payload, model: InteractionModel | 'fnf'): Decoded => {
    let metadata: MetadataEntry[];
    let route: string | undefined;
    let dataMimeType: string;
    try {
      metadata = payload.metadata ? decodeComposite(payload.metadata) : [];
      for (const e of metadata) {
        if (e.mimeType !== MimeTypes.ROUTING) continue;
        route = decodeRoutes(e.content)[0];
        break;
      }
      dataMimeType = readStreamMime(metadata);
    } catch (err) {
      if (err instanceof MetadataError) throw new SluiceError('INVALID_ARGUMENT', `metadata: ${err.message}`);
      throw err;
    }
    if (route === undefined) throw new SluiceError('INVALID_ARGUMENT', 'request metadata has no route');
    const handlers = routes[route];
    if (!handlers) throw new SluiceError('NO_ROUTE', `this instance does not serve route '${route}'`);
    const method = METHODS[model];
    if (typeof handlers[method] !== 'function') throw new SluiceError('INVALID_ARGUMENT', `route '${route}' does not serve ${describe(model)}`);
    return { route, metadata, handlers, data: decodeData(payload.data, dataMimeType), deadlineMs: readDeadline(metadata), dataMimeType };
  };

  /** The context of an admitted request: its slot is given back once, when the context is done. */
  const context = (d: Decoded, model: InteractionModel | 'fnf', stream?: Stream): HandlerContext => {
    const ctx = new HandlerContext(d.route, d.metadata, d.dataMimeType, log, d.deadlineMs, stream, tracing && startSpan(tracing, d, model));
    ctx.release = release;
    return ctx;
  };

  /** The decoded request, or undefined after answering the requester with why it cannot be served. */
  const decodeOrRefuse = (payload: Payload, model: InteractionModel, stream: Stream): Decoded | undefined => {
    try {
      const d = decode(payload, model);
      if (!admit()) throw overloaded();
      return d;
    } catch (err) {
      stream.error(SluiceError.from(err));
      return undefined;
    }
  };

  return {
    get inFlight() {
      return inFlight;
    },

    fireAndForget(payload) {
      let d: Decoded;
      try {
        d = decode(payload, 'fnf');
      } catch (err) {
        log.warn({ err: SluiceError.from(err).message }, 'fire-and-forget refused');
        return;
      }
      if (!admit()) {
        log.warn({ route: d.route, maxConcurrent }, 'fire-and-forget dropped: the instance serves its maxConcurrent requests');
        return;
      }
      const ctx = context(d, 'fnf');
      Promise.resolve()
        .then(() => d.handlers.fireAndForget!(d.data, ctx))
        .catch((err: unknown) => {
          ctx.closeSpan(SluiceError.from(err));
          ctx.log.error({ err }, 'fire-and-forget handler failed');
        })
        .finally(() => {
          ctx.closeSpan();
          ctx.done();
        });
    },

    requestResponse(payload, stream) {
      const d = decodeOrRefuse(payload, 'response', stream);
      if (!d) return stream.handler;
      const call = new ResponseCall(context(d, 'response', stream), d, stream);
      // The handler runs after this returns, once the connection holds the stream's handler.
      runSoon(call);
      return call;
    },

    requestStream(payload, stream) {
      const d = decodeOrRefuse(payload, 'stream', stream);
      if (!d) return stream.handler;
      const ctx = context(d, 'stream', stream);
      return new OutputHandler(ctx, startEmitter(() => d.handlers.requestStream!(d.data, ctx), d.handlers, stream, ctx));
    },

    requestChannel(payload, complete, stream) {
      const d = decodeOrRefuse(payload, 'channel', stream);
      if (!d) return stream.handler;
      const ctx = context(d, 'channel', stream);
      const input = new PullQueue<unknown>({
        prefetch: d.handlers.inputPrefetch ?? 16,
        request: (n) => stream.request(n),
        cancel: () => stream.cancel(),
      });
      input.push(d.data);
      if (complete) input.complete();
      const emitter = startEmitter(() => d.handlers.requestChannel!(input, ctx), d.handlers, stream, ctx);
      return {
        onNext: (p) => {
          try {
            input.push(decodeData(p.data, d.dataMimeType));
          } catch (err) {
            stop(ctx, emitter);
            stream.error(SluiceError.from(err));
          }
        },
        onComplete: () => input.complete(),
        onRequest: () => {
          ctx.demandChanged();
          emitter.onRequest();
        },
        onCancel: () => {
          input.error(new SluiceError('CANCELED', 'the requester cancelled the channel'));
          stop(ctx, emitter);
        },
        onError: (e) => {
          input.error(e);
          stop(ctx, emitter);
        },
      };
    },
  };
}

/**
 * Request-responses whose handlers are due, run in arrival order by one
 * microtask for the whole burst (a read of the socket usually carries many
 * requests) instead of one microtask and one bound function per request.
 * Bounded by the responders' `maxConcurrent`: every call here holds a slot.
 */
const due: Array<ResponseCall | undefined> = [];

function runSoon(call: ResponseCall): void {
  if (due.push(call) === 1) queueMicrotask(runDue);
}

function runDue(): void {
  // Calls queued while running (a handler that answers another request at once) run in this turn too.
  for (let i = 0; i < due.length; i++) {
    const call = due[i]!;
    due[i] = undefined;
    try {
      call.run();
    } catch (err) {
      // run() answers every failure itself; should it throw, the rest still run and the error surfaces as before.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
  due.length = 0;
}

/**
 * One request-response being served: runs the handler, answers with its
 * value or its error, and is the stream's handler (a cancel or an error ends
 * the context). One object per request instead of a chain of four promises
 * and a handler of closures: a handler that answers at once costs no promise
 * at all, and the chain's garbage was a share of the service's CPU per request.
 */
class ResponseCall implements StreamHandler {
  constructor(
    private readonly ctx: HandlerContext,
    private readonly d: Decoded,
    private readonly stream: Stream,
  ) {}

  /** Calls the handler; answers now, or when its promise settles. */
  run(): void {
    let value: unknown;
    try {
      value = this.d.handlers.requestResponse!(this.d.data, this.ctx);
      if (isThenable(value)) {
        // A foreign thenable goes through Promise.resolve: its `then` may throw or call back twice.
        (value instanceof Promise ? value : Promise.resolve(value)).then(
          (v: unknown) => this.answer(v),
          (err: unknown) => this.fail(err),
        );
        return;
      }
    } catch (err) {
      // Thrown by the handler, or by a `then` getter it returned.
      this.fail(err);
      return;
    }
    this.answer(value);
  }

  onCancel(): void {
    this.ctx.end();
  }

  onError(): void {
    this.ctx.end();
  }

  onNext(): void {}

  onComplete(): void {}

  onRequest(): void {}

  private answer(value: unknown): void {
    const { ctx, stream } = this;
    try {
      if (!ctx.ended && !stream.closed) {
        ctx.emitted = 1;
        stream.next({ data: encodeData(value), metadata: null }, true);
      }
      ctx.closeSpan();
    } catch (err) {
      // A value that cannot be encoded: the caller gets an error, the process nothing.
      this.fail(err);
      return;
    }
    ctx.done();
  }

  /** The handler's failure, or an answer that could not be sent. */
  private fail(err: unknown): void {
    const { ctx, stream } = this;
    try {
      const e = SluiceError.from(err);
      if (e.code === 'INTERNAL') ctx.log.error({ err }, 'request-response handler failed');
      ctx.closeSpan(e);
      if (!stream.closed) stream.error(e);
    } finally {
      ctx.done();
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

class HandlerContext implements StreamContext {
  emitted = 0;
  readonly deadline: number | undefined;
  /**
   * Made only when the handler looks at `signal`: aborting a controller
   * builds a DOMException with a stack trace, too dear to pay on every
   * request whose handler never listens.
   */
  private controller: AbortController | undefined;
  private endReason: SluiceError | undefined;
  private cancelDeadline: (() => void) | undefined;
  /** Gives the request's slot back; called once, by done(). */
  release: (() => void) | undefined;
  /** Whom the answer waits on (tracing on, a stream to answer on): switched only when demand runs out or arrives. */
  private readonly clock: WaitClock | undefined;
  private childLog: Logger | undefined;

  constructor(
    readonly route: string,
    readonly metadata: readonly MetadataEntry[],
    readonly dataMimeType: string,
    /** The responder's logger: the request's child of it is made when first used. */
    private readonly parentLog: Logger,
    deadlineMs: number | undefined,
    private readonly stream?: Stream,
    /** This request's span (tracing on); ended once by closeSpan. */
    private span?: TraceSpan,
  ) {
    if (span && stream) {
      this.clock = new WaitClock();
      this.clock.wait(stream.sendCredit > 0);
    }
    if (deadlineMs === undefined) return;
    this.deadline = Date.now() + deadlineMs;
    this.cancelDeadline = setLongTimeout(() => this.end(new SluiceError('DEADLINE_EXCEEDED', `deadline of ${deadlineMs} ms passed`)), deadlineMs);
  }

  /**
   * The request's logger (bound to its route and stream), made on first use:
   * pino's child() per request showed in the service's stream-opening and
   * request-response profiles, and most requests never log.
   */
  get log(): Logger {
    if (!this.childLog) this.childLog = this.parentLog.child(this.stream ? { route: this.route, stream: this.stream.id } : { route: this.route });
    return this.childLog;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.endReason) this.controller.abort(this.endReason);
    }
    return this.controller.signal;
  }

  get requested(): number {
    return this.stream?.totalRequested ?? 0;
  }

  get resumeAfter(): number | undefined {
    return readResumeAfter(this.metadata);
  }

  get trace(): TraceContext | undefined {
    return this.span ? this.span.context : readTraceContext(this.metadata);
  }

  /** Ends the span (once) with the demand seen and, when the request failed, its code. */
  closeSpan(error?: SluiceError): void {
    const span = this.span;
    if (!span) return;
    this.span = undefined;
    if (error) span.fail(error.code, error.message);
    span.set('sluice.demand.requested', this.requested);
    span.set('sluice.demand.delivered', this.emitted);
    if (this.clock) {
      this.clock.stop();
      span.set('sluice.wait.consumer_ms', roundMs(this.clock.consumerMs));
      span.set('sluice.wait.producer_ms', roundMs(this.clock.producerMs));
    }
    span.end();
  }

  /**
   * The requester's demand changed (an item spent credit, or REQUEST_N
   * added some): with credit left the answer waits on this handler, without
   * it on the requester. Costs nothing when tracing is off.
   */
  demandChanged(): void {
    if (this.clock && this.span && this.stream) this.clock.wait(this.stream.sendCredit > 0);
  }

  /** Whether the requester cancelled, went away, or the deadline passed. */
  get ended(): boolean {
    return this.endReason !== undefined;
  }

  /** The requester cancelled, went away, or the deadline passed: abort the handler's work. */
  end(reason?: SluiceError): void {
    this.cancelDeadline?.();
    if (this.endReason) return;
    this.endReason = reason ?? SluiceError.withoutStack('CANCELED', 'the requester cancelled');
    this.closeSpan(this.endReason);
    this.controller?.abort(this.endReason);
  }

  /** The handler finished (or its stream ended): its deadline no longer matters, and its slot is free. */
  done(): void {
    this.cancelDeadline?.();
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

/**
 * A request-stream's handler on the requester's signals: its demand feeds the
 * emitter, a cancel or error stops it. One object per stream, not a handler
 * object of closures: a service may hold many streams, and opening one is
 * what a scale run repeats a million times.
 */
class OutputHandler implements StreamHandler {
  constructor(
    private readonly ctx: HandlerContext,
    private readonly emitter: Emitter,
  ) {}

  onNext(): void {}
  onComplete(): void {}
  onRequest(): void {
    this.ctx.demandChanged();
    this.emitter.onRequest();
  }
  onCancel(): void {
    stop(this.ctx, this.emitter);
  }
  onError(): void {
    stop(this.ctx, this.emitter);
  }
}

/** The sending side of a responder stream as the emitters see it (one object per stream, no closures). */
class StreamOutbound implements Outbound<unknown> {
  constructor(
    private readonly stream: Stream,
    private readonly ctx: HandlerContext,
  ) {}

  get credit(): number {
    return this.stream.outboundDone ? 0 : this.stream.sendCredit;
  }

  get writable(): boolean {
    return this.stream.host.writable;
  }

  whenWritable(fn: () => void): () => void {
    return this.stream.host.whenWritable(fn);
  }

  send(item: unknown, last?: boolean): void {
    const ctx = this.ctx;
    ctx.emitted++;
    this.stream.next({ data: encodeData(item), metadata: null }, last === true);
    ctx.demandChanged();
    if (last === true) {
      ctx.closeSpan();
      ctx.done();
    }
  }

  // Once the output has ended the deadline no longer matters: its timer (and everything it holds) goes now.
  complete(): void {
    this.stream.complete();
    this.ctx.closeSpan();
    this.ctx.done();
  }

  error(e: SluiceError): void {
    if (e.code === 'INTERNAL') this.ctx.log.error({ err: e }, 'stream handler failed');
    this.ctx.closeSpan(e);
    this.stream.error(e);
    this.ctx.done();
  }
}

function startEmitter(call: () => StreamResult<unknown>, handlers: RouteHandlers, stream: Stream, ctx: HandlerContext): Emitter {
  const out = new StreamOutbound(stream, ctx);
  let result: StreamResult<unknown>;
  try {
    result = call();
  } catch (err) {
    out.error(SluiceError.from(err));
    return { onRequest: noop, cancel: noop };
  }
  // An async generator first, the usual result: without a subscribe method it cannot be an Observable, and rxjs's
  // isObservable looks up properties a generator lacks (it showed when opening many streams).
  const r = result as Partial<AsyncIterable<unknown>> & { subscribe?: unknown };
  if (r && typeof r[Symbol.asyncIterator] === 'function' && typeof r.subscribe !== 'function') return emitIterable(r as AsyncIterable<unknown>, out);
  if (isObservable(result)) {
    return emitObservable(result, out, {
      ...(handlers.bufferSize !== undefined ? { bufferSize: handlers.bufferSize } : {}),
      ...(handlers.overflow ? { overflow: handlers.overflow } : {}),
      onDrop: () => ctx.log.debug({}, 'item dropped by overflow policy'),
    });
  }
  if (r && typeof r[Symbol.asyncIterator] === 'function') return emitIterable(r as AsyncIterable<unknown>, out);
  out.error(new SluiceError('INTERNAL', `handler for '${ctx.route}' returned neither an Observable nor an AsyncIterable`));
  return { onRequest: noop, cancel: noop };
}

/** JSON data decoded; any other format handed to the handler as its bytes, untouched. */
function decodeData(bytes: Uint8Array | null, mimeType: string): unknown {
  // The usual type compared first: isJsonMime's parsing of parameters and case is for the others.
  if (mimeType === MimeTypes.JSON || isJsonMime(mimeType)) return decodeJson(bytes);
  // A copy: the frame's bytes may be a view into a larger read buffer the handler must not pin.
  return bytes ? copyOf(bytes) : new Uint8Array(0);
}

/** A handler's value as payload data: bytes as they are (answers in the request's own format), anything else as JSON. */
function encodeData(value: unknown): Uint8Array {
  return value instanceof Uint8Array ? value : encodeJson(value);
}

function startSpan(tracing: ResponderTracing, d: Decoded, model: InteractionModel | 'fnf'): TraceSpan {
  return tracing.tracer.start(d.route, {
    kind: 'server',
    parent: readTraceContext(d.metadata),
    attributes: { 'rpc.system': 'rsocket', 'sluice.route': d.route, 'sluice.model': model, 'sluice.service': tracing.service, 'sluice.instance': tracing.instance, 'sluice.hop': 'service' },
  });
}

function stop(ctx: HandlerContext, emitter: Emitter): void {
  ctx.end();
  emitter.cancel();
  ctx.done();
}

function describe(model: InteractionModel | 'fnf'): string {
  return { fnf: 'fire-and-forget', response: 'request-response', stream: 'request-stream', channel: 'request-channel' }[model];
}
