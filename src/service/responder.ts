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
import type { InteractionModel, Stream, StreamHandler } from '../rsocket/stream.js';
import type { Logger } from '../observability/log.js';
import type { RouteHandlers, RouteTable, StreamContext, StreamResult } from './handlers.js';

const noop = (): void => {};

interface Decoded {
  route: string;
  metadata: MetadataEntry[];
  handlers: RouteHandlers;
  data: unknown;
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
    return { route, metadata, handlers, data: decodeJson(payload.data) };
  };

  const context = (d: Decoded, signal: AbortSignal, stream?: Stream): HandlerContext =>
    new HandlerContext(d.route, d.metadata, signal, log.child({ route: d.route, ...(stream ? { stream: stream.id } : {}) }), stream);

  const refuse = (stream: Stream, err: unknown): StreamHandler => {
    stream.error(SluiceError.from(err));
    return stream.handler;
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
      const ctx = context(d, new AbortController().signal);
      Promise.resolve()
        .then(() => d.handlers.fireAndForget!(d.data, ctx))
        .catch((err: unknown) => ctx.log.error({ err }, 'fire-and-forget handler failed'));
    },

    requestResponse(payload, stream) {
      let d: Decoded;
      try {
        d = decode(payload, 'response');
      } catch (err) {
        return refuse(stream, err);
      }
      const abort = new AbortController();
      const ctx = context(d, abort.signal, stream);
      Promise.resolve()
        .then(() => d.handlers.requestResponse!(d.data, ctx))
        .then(
          (value) => {
            if (!abort.signal.aborted && !stream.closed) stream.next({ data: encodeJson(value), metadata: null }, true);
          },
          (err: unknown) => {
            const e = SluiceError.from(err);
            if (e.code === 'INTERNAL') ctx.log.error({ err }, 'request-response handler failed');
            if (!abort.signal.aborted && !stream.closed) stream.error(e);
          },
        );
      return { ...cancelOnly(abort), onNext: noop, onComplete: noop, onRequest: noop };
    },

    requestStream(payload, stream) {
      let d: Decoded;
      try {
        d = decode(payload, 'stream');
      } catch (err) {
        return refuse(stream, err);
      }
      const abort = new AbortController();
      const ctx = context(d, abort.signal, stream);
      const emitter = startEmitter(() => d.handlers.requestStream!(d.data, ctx), d.handlers, stream, ctx);
      return {
        onNext: noop,
        onComplete: noop,
        onRequest: () => emitter.onRequest(),
        onCancel: () => stop(abort, emitter),
        onError: () => stop(abort, emitter),
      };
    },

    requestChannel(payload, complete, stream) {
      let d: Decoded;
      try {
        d = decode(payload, 'channel');
      } catch (err) {
        return refuse(stream, err);
      }
      const abort = new AbortController();
      const ctx = context(d, abort.signal, stream);
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
            stop(abort, emitter);
            stream.error(SluiceError.from(err));
          }
        },
        onComplete: () => input.complete(),
        onRequest: () => emitter.onRequest(),
        onCancel: () => {
          input.error(new SluiceError('CANCELED', 'the requester cancelled the channel'));
          stop(abort, emitter);
        },
        onError: (e) => {
          input.error(e);
          stop(abort, emitter);
        },
      };
    },
  };
}

class HandlerContext implements StreamContext {
  emitted = 0;
  constructor(
    readonly route: string,
    readonly metadata: readonly MetadataEntry[],
    readonly signal: AbortSignal,
    readonly log: Logger,
    private readonly stream?: Stream,
  ) {}

  get requested(): number {
    return this.stream?.totalRequested ?? 0;
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
    },
    complete: () => stream.complete(),
    error: (e) => {
      if (e.code === 'INTERNAL') ctx.log.error({ err: e }, 'stream handler failed');
      stream.error(e);
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

function cancelOnly(abort: AbortController): Pick<StreamHandler, 'onCancel' | 'onError'> {
  return { onCancel: () => abort.abort(), onError: () => abort.abort() };
}

function stop(abort: AbortController, emitter: Emitter): void {
  abort.abort();
  emitter.cancel();
}

function describe(model: InteractionModel | 'fnf'): string {
  return { fnf: 'fire-and-forget', response: 'request-response', stream: 'request-stream', channel: 'request-channel' }[model];
}
