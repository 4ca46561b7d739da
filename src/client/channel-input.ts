/**
 * Sends a channel's input only as the responder grants demand. An
 * AsyncIterable is pulled only when there is credit (a flooding generator is
 * throttled to exactly the responder's pace); an Observable cannot be paused,
 * so items beyond credit wait in a bounded buffer and overflow ends the
 * channel with BUFFER_OVERFLOW.
 */
import { Observable, type Subscriber } from 'rxjs';
import { SluiceError } from '../errors.js';
import type { Payload } from '../protocol/frames.js';
import type { Stream } from '../rsocket/stream.js';

export type ChannelInputSource<I> = { observable: Observable<I>; bufferSize: number } | { iterable: AsyncIterable<I> };

export interface ChannelInputIO<I> {
  /** Opens the channel with its first item; may throw (not connected). */
  open(first: I, complete: boolean): Stream;
  encode(item: I): Payload;
  /** Ends the channel and its output with an error. */
  fail(error: SluiceError): void;
}

export interface InputPump {
  /** The responder granted more input. */
  onRequest(): void;
  /** Stop sending and release the input source. */
  stop(): void;
}

const noFirstItem = () => new SluiceError('INVALID_ARGUMENT', 'channel input ended before its first item: a channel opens with one');

export function pumpChannelInput<I>(source: ChannelInputSource<I>, io: ChannelInputIO<I>): InputPump {
  return 'iterable' in source ? pumpIterable(source.iterable, io) : pumpObservable(source.observable, source.bufferSize, io);
}

function pumpIterable<I>(iterable: AsyncIterable<I>, io: ChannelInputIO<I>): InputPump {
  const iterator = iterable[Symbol.asyncIterator]();
  let stopped = false;
  let wake: (() => void) | undefined;
  const run = async () => {
    const first = await iterator.next();
    if (stopped) return;
    if (first.done) return io.fail(noFirstItem());
    const stream = io.open(first.value, false);
    for (;;) {
      while (!stopped && !stream.outboundDone && stream.sendCredit <= 0) await new Promise<void>((r) => (wake = r));
      if (stopped || stream.outboundDone) return;
      const next = await iterator.next();
      if (stopped || stream.outboundDone) return;
      if (next.done) return stream.complete();
      stream.next(io.encode(next.value));
    }
  };
  run().then(
    () => {
      if (stopped) return;
      // The responder cancelled our input: release the source.
      void Promise.resolve(iterator.return?.()).catch(() => {});
    },
    (err: unknown) => {
      if (!stopped) io.fail(SluiceError.from(err));
    },
  );
  return {
    onRequest() {
      const w = wake;
      wake = undefined;
      w?.();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      wake?.();
      void Promise.resolve(iterator.return?.()).catch(() => {});
    },
  };
}

function pumpObservable<I>(observable: Observable<I>, bufferSize: number, io: ChannelInputIO<I>): InputPump {
  const buffer: I[] = [];
  // The subscriber the input is delivered to, held so stop() can close it even while a synchronous
  // source is still emitting (such sources check `closed`). This does what takeUntil would, without
  // pulling rxjs's innerFrom (and its async-iterator helpers) into the browser bundle.
  let input: Subscriber<I> | undefined;
  let stream: Stream | undefined;
  let inputDone = false;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    buffer.length = 0;
    input?.unsubscribe();
  };
  const fail = (e: SluiceError) => {
    stop();
    io.fail(e);
  };
  // An item that cannot be sent (it does not encode) ends the channel: thrown inside the RxJS
  // subscriber it would be rethrown from a timer, and from flush() into the frame handler.
  const send = (s: Stream, item: I): boolean => {
    try {
      s.next(io.encode(item));
      return true;
    } catch (err) {
      fail(SluiceError.from(err));
      return false;
    }
  };
  const flush = () => {
    if (stopped || !stream || stream.outboundDone) return;
    while (buffer.length > 0 && stream.sendCredit > 0) if (!send(stream, buffer.shift() as I)) return;
    if (buffer.length === 0 && inputDone) stream.complete();
  };
  const stoppable = new Observable<I>((subscriber) => {
    input = subscriber;
    return observable.subscribe(subscriber);
  });
  stoppable.subscribe({
    next: (item) => {
      if (stopped) return;
      if (!stream) {
        try {
          stream = io.open(item, false);
        } catch (err) {
          fail(SluiceError.from(err));
        }
        return;
      }
      if (stream.outboundDone) return stop();
      if (buffer.length === 0 && stream.sendCredit > 0) return void send(stream, item);
      if (buffer.length >= bufferSize) {
        return fail(new SluiceError('BUFFER_OVERFLOW', `channel input outran the responder's demand: ${bufferSize} items buffered`));
      }
      buffer.push(item);
    },
    error: (err: unknown) => {
      if (!stopped) fail(SluiceError.from(err));
    },
    complete: () => {
      if (stopped) return;
      inputDone = true;
      if (!stream) return fail(noFirstItem());
      flush();
    },
  });
  return { onRequest: flush, stop };
}
