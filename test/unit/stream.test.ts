/**
 * Stream on a fake host: credit in both directions, which halves are done,
 * and what goes on the wire for each local action and each peer frame.
 */
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { decodeFrame, encodePayloadFrame } from '../../src/protocol/codec.js';
import { Flags, FrameType, MAX_REQUEST_N, type Frame, type Payload } from '../../src/protocol/frames.js';
import { Stream, addCredit, type InteractionModel, type StreamHandler, type StreamHost, type StreamRole } from '../../src/rsocket/stream.js';

const u8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);
const p = (data: string): Payload => ({ data: u8(data), metadata: null });

class FakeHost implements StreamHost {
  readonly frames: Frame[] = [];
  readonly raw: Uint8Array[] = [];
  readonly released: Stream[] = [];
  writable = true;
  sendFrame(frame: Uint8Array): void {
    this.raw.push(frame);
    this.frames.push(decodeFrame(frame.slice()));
  }
  release(stream: Stream): void {
    this.released.push(stream);
  }
  whenWritable(): () => void {
    return () => {};
  }
}

function recorder(): StreamHandler & { events: string[]; frames: Array<Uint8Array | undefined> } {
  const events: string[] = [];
  const frames: Array<Uint8Array | undefined> = [];
  return {
    events,
    frames,
    onNext: (payload, frame) => {
      events.push(`next:${text(payload.data)}`);
      frames.push(frame);
    },
    onComplete: () => events.push('complete'),
    onError: (e) => events.push(`error:${e.code}:${e.message}`),
    onRequest: (n) => events.push(`request:${n}`),
    onCancel: () => events.push('cancel'),
  };
}

function make(model: InteractionModel, role: StreamRole, id = 1) {
  const host = new FakeHost();
  const stream = new Stream(id, model, role, host);
  const handler = recorder();
  stream.handler = handler;
  return { host, stream, handler };
}

const NEXT = Flags.NEXT;
const COMPLETE = Flags.COMPLETE;

describe('sending payloads', () => {
  it('next() spends one credit per payload and sends PAYLOAD NEXT', () => {
    const { host, stream } = make('stream', 'responder');
    stream.sendCredit = 2;
    stream.next(p('a'));
    stream.next({ data: u8('b'), metadata: u8('m') }, true);
    expect(host.frames).toEqual([
      { type: FrameType.PAYLOAD, streamId: 1, flags: NEXT, metadata: null, data: u8('a') },
      { type: FrameType.PAYLOAD, streamId: 1, flags: NEXT | COMPLETE | Flags.METADATA, metadata: u8('m'), data: u8('b') },
    ]);
    expect(stream.sendCredit).toBe(0);
    expect(stream.outboundDone).toBe(true);
  });

  it('next() without credit throws and sends nothing', () => {
    const { host, stream } = make('stream', 'responder');
    stream.sendCredit = 1;
    stream.next(p('a'));
    expect(() => stream.next(p('b'))).toThrow(new Error('stream 1: send without demand'));
    expect(host.frames).toHaveLength(1);
    expect(stream.sendCredit).toBe(0);
  });

  it('next() after our half completed throws', () => {
    const { host, stream } = make('stream', 'responder', 7);
    stream.sendCredit = 5;
    stream.complete();
    expect(() => stream.next(p('late'))).toThrow(new Error('stream 7: send after completion'));
    expect(host.frames).toEqual([{ type: FrameType.PAYLOAD, streamId: 7, flags: COMPLETE, metadata: null, data: new Uint8Array(0) }]);
  });

  it('complete() sends one COMPLETE and is idempotent', () => {
    const { host, stream } = make('channel', 'requester');
    stream.complete();
    stream.complete();
    expect(host.frames.map((f) => f.flags)).toEqual([COMPLETE]);
    expect(stream.outboundDone).toBe(true);
    expect(stream.closed).toBe(false);
    expect(host.released).toEqual([]);
  });

  it('forward() rewrites only the stream id of a received frame and spends credit for NEXT', () => {
    const { host, stream } = make('stream', 'responder', 9);
    stream.sendCredit = 1;
    stream.inboundDone = true;
    const frame = encodePayloadFrame(FrameType.PAYLOAD, 4, NEXT, { data: u8('item'), metadata: u8('md') });
    stream.forward(frame);
    expect(host.raw[0]).toBe(frame);
    expect(host.frames[0]).toEqual({ type: FrameType.PAYLOAD, streamId: 9, flags: NEXT | Flags.METADATA, metadata: u8('md'), data: u8('item') });
    expect(stream.sendCredit).toBe(0);
    expect(() => stream.forward(encodePayloadFrame(FrameType.PAYLOAD, 4, NEXT, p('x')))).toThrow('stream 9: send without demand');
    // A COMPLETE-only frame needs no credit and ends our half.
    stream.forward(encodePayloadFrame(FrameType.PAYLOAD, 4, COMPLETE, { data: null, metadata: null }));
    expect(stream.outboundDone).toBe(true);
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
  });

  it('forward() on a response stream always completes, whatever the producer flagged', () => {
    const { host, stream } = make('response', 'responder', 3);
    stream.sendCredit = 1;
    stream.inboundDone = true;
    stream.forward(encodePayloadFrame(FrameType.PAYLOAD, 8, NEXT, p('answer')));
    expect(host.frames[0]).toMatchObject({ streamId: 3, flags: NEXT | COMPLETE });
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
  });

  it('error() sends ERROR with the wire code and coded message, ends both halves, once', () => {
    const { host, stream, handler } = make('channel', 'responder', 5);
    stream.error(new SluiceError('INVALID_ARGUMENT', 'bad field'));
    stream.error(new SluiceError('INTERNAL', 'again'));
    expect(host.frames).toEqual([{ type: FrameType.ERROR, streamId: 5, flags: 0, code: 0x201, message: 'INVALID_ARGUMENT: bad field' }]);
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
    // Our own error is not reported back to our handler.
    expect(handler.events).toEqual([]);
  });
});

describe('granting demand', () => {
  it('request(n) adds receive credit and sends REQUEST_N', () => {
    const { host, stream } = make('stream', 'requester');
    stream.request(3);
    stream.request(4);
    expect(stream.receiveCredit).toBe(7);
    expect(host.frames).toEqual([
      { type: FrameType.REQUEST_N, streamId: 1, flags: 0, requestN: 3 },
      { type: FrameType.REQUEST_N, streamId: 1, flags: 0, requestN: 4 },
    ]);
  });

  it('2^31-1 means unbounded; larger grants are capped on the wire', () => {
    const { host, stream } = make('stream', 'requester');
    stream.request(MAX_REQUEST_N);
    expect(stream.receiveCredit).toBe(Infinity);
    stream.request(2 ** 40);
    expect(host.frames.map((f) => (f.type === FrameType.REQUEST_N ? f.requestN : -1))).toEqual([MAX_REQUEST_N, MAX_REQUEST_N]);
    expect(stream.receiveCredit).toBe(Infinity);
  });

  it('request() ignores n <= 0 and does nothing once the peer is done', () => {
    const { host, stream } = make('channel', 'requester');
    stream.request(0);
    stream.request(-1);
    stream.inboundDone = true;
    stream.request(5);
    expect(host.frames).toEqual([]);
    expect(stream.receiveCredit).toBe(0);
  });
});

describe('cancel', () => {
  it('a requester cancel sends CANCEL and ends the whole stream', () => {
    const { host, stream, handler } = make('channel', 'requester');
    stream.cancel();
    stream.cancel();
    expect(host.frames).toEqual([{ type: FrameType.CANCEL, streamId: 1, flags: 0 }]);
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
    expect(handler.events).toEqual([]);
  });

  it('a responder cancel only stops the peer input; our output goes on', () => {
    const { host, stream } = make('channel', 'responder', 2);
    stream.sendCredit = 1;
    stream.cancel();
    stream.cancel();
    expect(host.frames).toEqual([{ type: FrameType.CANCEL, streamId: 2, flags: 0 }]);
    expect([stream.inboundDone, stream.outboundDone]).toEqual([true, false]);
    expect(host.released).toEqual([]);
    stream.next(p('still'), true);
    expect(host.released).toEqual([stream]);
  });
});

describe('inbound frames', () => {
  it('payloads spend receive credit and reach the handler with the raw frame', () => {
    const { stream, handler } = make('stream', 'requester');
    stream.receiveCredit = 2;
    const raw = Uint8Array.of(1);
    stream.receivePayload(p('a'), NEXT, raw);
    stream.receivePayload(p('b'), NEXT | COMPLETE, undefined);
    expect(handler.events).toEqual(['next:a', 'next:b', 'complete']);
    expect(handler.frames).toEqual([raw, undefined]);
    expect(stream.receiveCredit).toBe(0);
    expect(stream.inboundDone).toBe(true);
  });

  it('a COMPLETE without NEXT needs no credit', () => {
    const { stream, handler } = make('stream', 'requester');
    stream.outboundDone = true;
    stream.receivePayload({ data: null, metadata: null }, COMPLETE, undefined);
    expect(handler.events).toEqual(['complete']);
    expect(stream.closed).toBe(true);
  });

  it('a payload beyond credit, as responder: ERROR DEMAND_EXCEEDED (0x204) to the peer and onError locally', () => {
    const { host, stream, handler } = make('channel', 'responder', 4);
    stream.receiveCredit = 1;
    stream.receivePayload(p('ok'), NEXT, undefined);
    stream.receivePayload(p('extra'), NEXT, undefined);
    stream.receivePayload(p('after'), NEXT, undefined);
    expect(host.frames).toEqual([{ type: FrameType.ERROR, streamId: 4, flags: 0, code: 0x204, message: 'DEMAND_EXCEEDED: stream 4 received a payload with no request outstanding' }]);
    expect(handler.events).toEqual(['next:ok', 'error:DEMAND_EXCEEDED:stream 4 received a payload with no request outstanding']);
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
  });

  it('a payload beyond credit, as requester: CANCEL to the peer and onError locally', () => {
    const { host, stream, handler } = make('stream', 'requester', 3);
    stream.receivePayload(p('unasked'), NEXT, undefined);
    expect(host.frames).toEqual([{ type: FrameType.CANCEL, streamId: 3, flags: 0 }]);
    expect(handler.events).toEqual(['error:DEMAND_EXCEEDED:stream 3 received a payload with no request outstanding']);
  });

  it('a response stream takes exactly one payload, with or without COMPLETE', () => {
    const { stream, handler } = make('response', 'requester');
    stream.receiveCredit = 1;
    stream.outboundDone = true;
    stream.receivePayload(p('answer'), NEXT, undefined);
    stream.receivePayload(p('second'), NEXT, undefined);
    expect(handler.events).toEqual(['next:answer']);
    expect(stream.closed).toBe(true);
  });

  it('REQUEST_N adds send credit, counts the total and tells the handler; ignored once our half is done', () => {
    const { stream, handler } = make('stream', 'responder');
    stream.receiveRequestN(2);
    stream.receiveRequestN(3);
    expect([stream.sendCredit, stream.totalRequested]).toEqual([5, 5]);
    stream.receiveRequestN(MAX_REQUEST_N);
    expect(stream.sendCredit).toBe(Infinity);
    expect(stream.totalRequested).toBe(5 + MAX_REQUEST_N);
    stream.complete();
    stream.receiveRequestN(1);
    expect(handler.events).toEqual(['request:2', 'request:3', `request:${MAX_REQUEST_N}`]);
  });

  it('totalRequested saturates at Number.MAX_SAFE_INTEGER', () => {
    const { stream } = make('stream', 'responder');
    stream.totalRequested = Number.MAX_SAFE_INTEGER - 10;
    stream.receiveRequestN(100);
    expect(stream.totalRequested).toBe(Number.MAX_SAFE_INTEGER);
    stream.receiveRequestN(MAX_REQUEST_N);
    expect(stream.totalRequested).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('CANCEL to a responder ends the stream and tells the handler once', () => {
    const { host, stream, handler } = make('stream', 'responder');
    stream.inboundDone = true;
    stream.receiveCancel();
    stream.receiveCancel();
    expect(handler.events).toEqual(['cancel']);
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
    expect(host.frames).toEqual([]);
  });

  it('CANCEL to a channel requester stops only its output', () => {
    const { host, stream, handler } = make('channel', 'requester');
    stream.receiveCancel();
    stream.receiveCancel();
    expect(handler.events).toEqual(['cancel']);
    expect([stream.outboundDone, stream.inboundDone]).toEqual([true, false]);
    expect(host.released).toEqual([]);
    stream.receiveCredit = 1;
    stream.receivePayload(p('last'), NEXT | COMPLETE, undefined);
    expect(host.released).toEqual([stream]);
  });

  it('CANCEL to a stream requester (whose output is done) is ignored', () => {
    const { stream, handler } = make('stream', 'requester');
    stream.outboundDone = true;
    stream.receiveCancel();
    expect(handler.events).toEqual([]);
    expect(stream.closed).toBe(false);
  });

  it('ERROR ends both halves and reaches the handler once', () => {
    const { host, stream, handler } = make('channel', 'requester');
    stream.receiveError(new SluiceError('NO_ROUTE', 'none'));
    stream.receiveError(new SluiceError('INTERNAL', 'again'));
    expect(handler.events).toEqual(['error:NO_ROUTE:none']);
    expect(stream.closed).toBe(true);
    expect(host.released).toEqual([stream]);
  });

  it('abort() (connection gone) reports the error without sending or releasing', () => {
    const { host, stream, handler } = make('channel', 'requester');
    stream.abort(new SluiceError('UNAVAILABLE', 'gone'));
    stream.abort(new SluiceError('UNAVAILABLE', 'twice'));
    expect(handler.events).toEqual(['error:UNAVAILABLE:gone']);
    expect(host.frames).toEqual([]);
    expect(host.released).toEqual([]);
  });

  it('nothing is received once the peer is done', () => {
    const { stream, handler } = make('channel', 'responder');
    stream.inboundDone = true;
    stream.receiveCredit = 5;
    stream.receivePayload(p('late'), NEXT, undefined);
    expect(handler.events).toEqual([]);
  });
});

describe('addCredit', () => {
  it('adds, and saturates at "unbounded" (Infinity)', () => {
    expect(addCredit(0, 1)).toBe(1);
    expect(addCredit(5, 10)).toBe(15);
    expect(addCredit(0, MAX_REQUEST_N)).toBe(Infinity);
    expect(addCredit(3, 2 ** 40)).toBe(Infinity);
    expect(addCredit(Infinity, 1)).toBe(Infinity);
    expect(addCredit(Number.MAX_SAFE_INTEGER - 1, 1)).toBe(Infinity);
    expect(addCredit(MAX_REQUEST_N - 1, MAX_REQUEST_N - 1)).toBe(2 * (MAX_REQUEST_N - 1));
  });
});

describe('connection-level codes on a stream', () => {
  it('travel as APPLICATION_ERROR with the code kept in the message (the spec reserves them for stream 0)', () => {
    const { host, stream } = make('stream', 'responder');
    stream.sendCredit = 1;
    stream.error(new SluiceError('CONNECTION_CLOSED', 'passed along by a service'));
    const frame = host.frames.at(-1) as Frame & { code: number; message: string };
    expect(frame.code).toBe(0x201);
    expect(frame.message).toBe('CONNECTION_CLOSED: passed along by a service');
    const other = make('stream', 'responder');
    other.stream.error(new SluiceError('NO_ROUTE', 'stream-level codes are kept'));
    expect((other.host.frames.at(-1) as Frame & { code: number }).code).toBe(0x202);
  });
});
