/**
 * Turns a service's route table into the RSocket responder its connection
 * runs: decodes route and JSON, calls the handler, and feeds results back
 * with honest demand (flow/emitters.ts). Handler failures become coded
 * errors for the requester; a handler that throws a SluiceError chooses the
 * code (INVALID_ARGUMENT and friends), anything else is INTERNAL.
 */
import { isObservable } from 'rxjs';
import { SluiceError } from '../errors.js';
import { emitIterable, emitObservable, type Emitter, type Outbound } from '../flow/emitters.js';
import { PullQueue } from '../flow/pull-queue.js';
import { decodeJson, encodeJson } from '../protocol/json.js';
import { MetadataError, MimeTypes, decodeComposite, decodeRoutes, type MetadataEntry } from '../protocol/metadata.js';
import type { Payload } from '../protocol/frames.js';
import type { Responder } from '../rsocket/connection.js';
import type { InteractionModel, Stream } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import { readDeadline } from '../resilience/deadline.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import type { RouteHandlers, RouteTable, StreamContext, StreamResult } from './handlers.js';

const noop = (): void => {};

interface Decoded {
  route: string;
  metadata: MetadataEntry[];
  handlers: RouteHandlers;
  data: unknown;
  /** Remaining time the gateway passed along, in ms. */
  deadlineMs: number | undefined;
}

export function createServiceResponder(routes: RouteTable, log: Logger): Responder {
  const decode = (payload: Payload, model: InteractionModel | 'fnf'): Decoded => {
    let metadata: MetadataEntry[];
    let route: string | undefined;
    try {
      metadata = payload.metadata ? decodeComposite(payload.metadata) : [];
      const entry = metadata.find((e) => e.mimeType === MimeTypes.ROUTING);
      route = entry ? decodeRoutes(entry.content)[0] : undefined;
    } catch (err) {
      if (err instanceof MetadataError) throw new SluiceError('INVALID_ARGUMENT', `metadata: ${err.message}`);
      throw err;
    }
    if (route === undefined) throw new SluiceError('INVALID_ARGUMENT', 'request metadata has no route');
    const handlers = routes[route];
    if (!handlers) throw new SluiceError('NO_ROUTE', `this instance does not serve route '${route}'`);
    const method = { fnf: 'fireAndForget', response: 'requestResponse', stream: 'requestStream', channel: 'requestChannel' }[model] as keyof RouteHandlers;
    if (typeof handlers[method] !== 'function') throw new SluiceError('INVALID_ARGUMENT', `route '${route}' does not serve ${describe(model)}`);
    return { route, metadata, handlers, data: decodeJson(payload.data), deadlineMs: readDeadline(metadata) };
  };

  const context = (d: Decoded, stream?: Stream): HandlerContext =>
    new HandlerContext(d.route, d.metadata, log.child({ route: d.route, ...(stream ? { stream: stream.id } : {}) }), d.deadlineMs, stream);

  /** The decoded request, or undefined after answering the requester with why it cannot be served. */
  const decodeOrRefuse = (payload: Payload, model: InteractionModel, stream: Stream): Decoded | undefined => {
    try {
      return decode(payload, model);
    } catch (err) {
      stream.error(SluiceError.from(err));
      return undefined;
    }
  };

  return {
    fireAndForget(payload) {
      let d: Decoded;
      try {
        d = decode(payload, 'fnf');
      } catch (err) {
        log.warn({ err: SluiceError.from(err).message }, 'fire-and-forget refused');
        return;
      }
      const ctx = context(d);
      Promise.resolve()
        .then(() => d.handlers.fireAndForget!(d.data, ctx))
        .catch((err: unknown) => ctx.log.error({ err }, 'fire-and-forget handler failed'))
        .finally(() => ctx.done());
    },

    requestResponse(payload, stream) {
      const d = decodeOrRefuse(payload, 'response', stream);
      if (!d) return stream.handler;
      const ctx = context(d, stream);
      Promise.resolve()
        .then(() => d.handlers.requestResponse!(d.data, ctx))
        .then((value) => {
          if (!ctx.ended && !stream.closed) stream.next({ data: encodeJson(value), metadata: null }, true);
        })
        // The handler's failure, or a value that cannot be encoded: either way the caller gets an error, the process nothing.
        .catch((err: unknown) => {
          const e = SluiceError.from(err);
          if (e.code === 'INTERNAL') ctx.log.error({ err }, 'request-response handler failed');
          if (!stream.closed) stream.error(e);
        })
        .finally(() => ctx.done());
      return { onCancel: () => ctx.end(), onError: () => ctx.end(), onNext: noop, onComplete: noop, onRequest: noop };
    },

    requestStream(payload, stream) {
      const d = decodeOrRefuse(payload, 'stream', stream);
      if (!d) return stream.handler;
      const ctx = context(d, stream);
      const emitter = startEmitter(() => d.handlers.requestStream!(d.data, ctx), d.handlers, stream, ctx);
      return {
        onNext: noop,
        onComplete: noop,
        onRequest: () => emitter.onRequest(),
        onCancel: () => stop(ctx, emitter),
        onError: () => stop(ctx, emitter),
      };
    },

    requestChannel(payload, complete, stream) {
      const d = decodeOrRefuse(payload, 'channel', stream);
      if (!d) return stream.handler;
      const ctx = context(d, stream);
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
            input.push(decodeJson(p.data));
          } catch (err) {
            stop(ctx, emitter);
            stream.error(SluiceError.from(err));
          }
        },
        onComplete: () => input.complete(),
        onRequest: () => emitter.onRequest(),
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

  constructor(
    readonly route: string,
    readonly metadata: readonly MetadataEntry[],
    readonly log: Logger,
    deadlineMs: number | undefined,
    private readonly stream?: Stream,
  ) {
    if (deadlineMs === undefined) return;
    this.deadline = Date.now() + deadlineMs;
    this.cancelDeadline = setLongTimeout(() => this.end(new SluiceError('DEADLINE_EXCEEDED', `deadline of ${deadlineMs} ms passed`)), deadlineMs);
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

  /** Whether the requester cancelled, went away, or the deadline passed. */
  get ended(): boolean {
    return this.endReason !== undefined;
  }

  /** The requester cancelled, went away, or the deadline passed: abort the handler's work. */
  end(reason?: SluiceError): void {
    this.cancelDeadline?.();
    if (this.endReason) return;
    this.endReason = reason ?? new SluiceError('CANCELED', 'the requester cancelled');
    this.controller?.abort(this.endReason);
  }

  /** The handler finished: its deadline no longer matters. */
  done(): void {
    this.cancelDeadline?.();
  }
}

function startEmitter(call: () => StreamResult<unknown>, handlers: RouteHandlers, stream: Stream, ctx: HandlerContext): Emitter {
  const out: Outbound<unknown> = {
    get credit() {
      return stream.outboundDone ? 0 : stream.sendCredit;
    },
    get writable() {
      return stream.host.writable;
    },
    whenWritable: (fn) => stream.host.whenWritable(fn),
    send: (item, last) => {
      ctx.emitted++;
      stream.next({ data: encodeJson(item), metadata: null }, last === true);
      if (last === true) ctx.done();
    },
    // Once the output has ended the deadline no longer matters: its timer (and everything it holds) goes now.
    complete: () => {
      stream.complete();
      ctx.done();
    },
    error: (e) => {
      if (e.code === 'INTERNAL') ctx.log.error({ err: e }, 'stream handler failed');
      stream.error(e);
      ctx.done();
    },
  };
  let result: StreamResult<unknown>;
  try {
    result = call();
  } catch (err) {
    out.error(SluiceError.from(err));
    return { onRequest: noop, cancel: noop };
  }
  if (isObservable(result)) {
    return emitObservable(result, out, {
      ...(handlers.bufferSize !== undefined ? { bufferSize: handlers.bufferSize } : {}),
      ...(handlers.overflow ? { overflow: handlers.overflow } : {}),
      onDrop: () => ctx.log.debug({}, 'item dropped by overflow policy'),
    });
  }
  if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return emitIterable(result, out);
  out.error(new SluiceError('INTERNAL', `handler for '${ctx.route}' returned neither an Observable nor an AsyncIterable`));
  return { onRequest: noop, cancel: noop };
}

function stop(ctx: HandlerContext, emitter: Emitter): void {
  ctx.end();
  emitter.cancel();
}

function describe(model: InteractionModel | 'fnf'): string {
  return { fnf: 'fire-and-forget', response: 'request-response', stream: 'request-stream', channel: 'request-channel' }[model];
}
