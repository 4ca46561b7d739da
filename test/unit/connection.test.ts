/**
 * The RSocket engine over the in-memory transport: a client-role and a
 * server-role Connection talking to each other, or one Connection facing a
 * test that plays the peer with raw frames (to send what a correct engine
 * never would). Time-based behaviour runs on vitest fake timers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SluiceError } from '../../src/errors.js';
import { decodeFrame, encodeCancel, encodeError, encodeKeepAlive, encodeMetadataPush, encodePayloadFrame, encodeRequestN, encodeSetup, type SetupOptions } from '../../src/protocol/codec.js';
import { Flags, FrameType, MAX_REQUEST_N, type Frame, type Payload, type SetupFrame } from '../../src/protocol/frames.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { Connection, MAX_HELD_FRAMES, type ConnectionLimits, type KeepAliveOptions, type Responder, type ServerOptions } from '../../src/rsocket/connection.js';
import { ServerConnection } from '../../src/rsocket/server-connection.js';
import { RELAYED_FRAME, type InteractionModel, type Stream, type StreamHandler } from '../../src/rsocket/stream.js';
import { MemoryBudget } from '../../src/rsocket/memory-budget.js';
import { BLOCK_BYTES } from '../../src/rsocket/block-pool.js';
import { memoryPair, rawPeer, settle, type RawPeer } from '../helpers/memory-transport.js';

// ------------------------------------------------------------------ helpers

const u8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : null);
const p = (data: string, metadata?: string): Payload => ({ data: u8(data), metadata: metadata === undefined ? null : u8(metadata) });
const bytesOf = (n: number): Payload => ({ data: new Uint8Array(n), metadata: null });

const MIME = { metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON };
const setupFrame = (o: Partial<SetupOptions> = {}) => encodeSetup({ keepAlive: 20_000, lifetime: 90_000, ...MIME, ...o });

interface Recorder extends StreamHandler {
  readonly events: string[];
  readonly frames: Array<Uint8Array | undefined>;
}

function recorder(): Recorder {
  const events: string[] = [];
  const frames: Array<Uint8Array | undefined> = [];
  return {
    events,
    frames,
    onNext: (payload, frame) => {
      events.push(`next:${text(payload.data)}` + (payload.metadata ? `|${text(payload.metadata)}` : ''));
      frames.push(frame);
    },
    onComplete: () => events.push('complete'),
    onError: (e) => events.push(`error:${e.code}:${e.message}`),
    onRequest: (n) => events.push(`request:${n}`),
    onCancel: () => events.push('cancel'),
  };
}

interface Served {
  model: InteractionModel;
  data: string | null;
  metadata: string | null;
  complete: boolean;
  stream: Stream;
  handler: Recorder;
}

type TestResponder = Responder & { served: Served[]; fnf: string[]; pushes: string[] };

/** Records every request; `act` may answer at once (runs inside the responder call). */
function testResponder(act?: (s: Served) => void): TestResponder {
  const served: Served[] = [];
  const fnf: string[] = [];
  const pushes: string[] = [];
  const serve = (model: InteractionModel, payload: Payload, complete: boolean, stream: Stream): StreamHandler => {
    const s: Served = { model, data: text(payload.data), metadata: text(payload.metadata), complete, stream, handler: recorder() };
    served.push(s);
    act?.(s);
    return s.handler;
  };
  return {
    served,
    fnf,
    pushes,
    fireAndForget: (payload) => void fnf.push(text(payload.data) ?? ''),
    requestResponse: (payload, stream) => serve('response', payload, false, stream),
    requestStream: (payload, stream) => serve('stream', payload, false, stream),
    requestChannel: (payload, complete, stream) => serve('channel', payload, complete, stream),
    metadataPush: (md) => void pushes.push(text(md) ?? ''),
  };
}

const errorsIn = (frames: Frame[]) => frames.flatMap((f) => (f.type === FrameType.ERROR ? [{ streamId: f.streamId, code: f.code, message: f.message }] : []));
const typesIn = (frames: Frame[]) => frames.map((f) => `${f.type}@${f.streamId}`);
const decodeFrameSafe = (bytes: Uint8Array): Frame => decodeFrame(bytes.slice());

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  vi.useRealTimers();
});

interface PairOptions {
  serverLimits?: Partial<ConnectionLimits>;
  clientLimits?: Partial<ConnectionLimits>;
  responder?: TestResponder;
  clientResponder?: TestResponder;
  keepAlive?: Partial<KeepAliveOptions>;
  server?: Partial<ServerOptions>;
}

/** A client-role and a server-role Connection back to back, SETUP done. */
async function pair(o: PairOptions = {}) {
  const [ct, st] = memoryPair();
  const responder = o.responder ?? testResponder();
  const clientResponder = o.clientResponder ?? testResponder();
  const accepted: SetupFrame[] = [];
  const server = ServerConnection.accept(
    st,
    {
      accept: (setup) => {
        accepted.push(setup);
        return responder;
      },
      ...o.server,
    },
    { id: 'c1', ...(o.serverLimits ? { limits: o.serverLimits } : {}) },
  );
  const client = Connection.connect(ct, { ...MIME, ...(o.keepAlive ? { keepAlive: o.keepAlive } : {}) }, clientResponder, { id: 'k1', ...(o.clientLimits ? { limits: o.clientLimits } : {}) });
  cleanups.push(() => {
    client.close();
    server.close();
  });
  await settle();
  return { client, server, ct, st, responder, clientResponder, accepted };
}

/** A server-role Connection facing raw frames; SETUP not sent yet. */
function rawClient(o: { limits?: Partial<ConnectionLimits>; responder?: TestResponder; server?: Partial<ServerOptions>; memory?: MemoryBudget } = {}) {
  const [ct, st] = memoryPair();
  const peer = rawPeer(ct);
  const responder = o.responder ?? testResponder();
  const accept = vi.fn((_setup: SetupFrame, _conn: Connection): Responder => responder);
  const server = ServerConnection.accept(st, { accept, ...o.server }, { id: 'c1', ...(o.limits ? { limits: o.limits } : {}), ...(o.memory ? { memory: o.memory } : {}) });
  cleanups.push(() => server.close());
  return { server, peer, st, responder, accept };
}

/** A server-role Connection facing raw frames, SETUP accepted. */
async function openRawClient(o: Parameters<typeof rawClient>[0] = {}) {
  const r = rawClient(o);
  r.peer.send(setupFrame());
  await settle();
  expect(r.server.isOpen).toBe(true);
  return r;
}

/** A client-role Connection facing raw frames; its SETUP is taken off the peer's list. */
async function rawServer(o: { limits?: Partial<ConnectionLimits>; responder?: TestResponder; keepAlive?: Partial<KeepAliveOptions> } = {}) {
  const [ct, st] = memoryPair();
  const peer = rawPeer(st);
  const responder = o.responder ?? testResponder();
  const client = Connection.connect(ct, { ...MIME, ...(o.keepAlive ? { keepAlive: o.keepAlive } : {}) }, responder, { id: 'k1', ...(o.limits ? { limits: o.limits } : {}) });
  cleanups.push(() => client.close());
  await settle();
  const [setup] = peer.take();
  expect(setup?.type).toBe(FrameType.SETUP);
  return { client, peer, ct, responder };
}

async function expectRefused(peer: RawPeer, server: Connection, error: { code: number; message: string }) {
  await settle();
  expect(errorsIn(peer.frames)).toEqual([{ streamId: 0, ...error }]);
  expect(peer.frames.at(-1)?.type).toBe(FrameType.ERROR);
  expect(server.isOpen).toBe(false);
  expect(peer.closed).toBe(true);
}

// -------------------------------------------------------------------- SETUP

describe('SETUP', () => {
  it('hands the SETUP to accept() and serves the responder it returns', async () => {
    const { client, server, accepted, responder } = await pair();
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ type: FrameType.SETUP, majorVersion: 1, minorVersion: 0, keepAlive: 20_000, lifetime: 90_000, ...MIME });
    expect(server.setup).toBe(accepted[0]);
    client.fireAndForget(p('hello'));
    await settle();
    expect(responder.fnf).toEqual(['hello']);
  });

  it('a ping right after SETUP resolves once the server accepted it', async () => {
    const [ct, st] = memoryPair();
    const client = Connection.connect(ct, MIME, testResponder(), { id: 'k1' });
    const server = ServerConnection.accept(st, { accept: () => testResponder() }, { id: 'c1' });
    cleanups.push(() => client.close());
    await expect(client.ping()).resolves.toBeUndefined();
    expect(server.setup).toBeDefined();
  });

  it.each([
    ['REQUEST_RESPONSE', () => encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, p('x'))],
    ['KEEPALIVE', () => encodeKeepAlive(true, 0)],
    ['CANCEL', () => encodeCancel(1)],
    ['METADATA_PUSH', () => encodeMetadataPush(u8('m'))],
  ])('a first frame other than SETUP (%s) is INVALID_SETUP on stream 0, then close', async (name, frame) => {
    const { server, peer, accept } = rawClient();
    peer.send(frame());
    peer.send(setupFrame());
    await expectRefused(peer, server, { code: 0x001, message: `INVALID_SETUP: first frame must be SETUP, got ${name}` });
    expect(accept).not.toHaveBeenCalled();
  });

  it('RESUME instead of SETUP is refused with REJECTED_RESUME (0x004)', async () => {
    const { server, peer } = rawClient();
    peer.send(Uint8Array.from(Buffer.from('00000000340000010000000261620000000000000000' + '0000000000000000', 'hex')));
    await expectRefused(peer, server, { code: 0x004, message: 'UNSUPPORTED_SETUP: resumption is not supported' });
  });

  it('the lease flag is UNSUPPORTED_SETUP', async () => {
    const { server, peer, accept } = rawClient();
    peer.send(setupFrame({ flags: Flags.LEASE }));
    await expectRefused(peer, server, { code: 0x002, message: 'UNSUPPORTED_SETUP: lease is not supported' });
    expect(accept).not.toHaveBeenCalled();
  });

  it('the resume flag (with a token) is UNSUPPORTED_SETUP', async () => {
    const { server, peer } = rawClient();
    peer.send(setupFrame({ resumeToken: u8('token') }));
    await expectRefused(peer, server, { code: 0x002, message: 'UNSUPPORTED_SETUP: resumption is not supported' });
  });

  it('protocol version 2.x is UNSUPPORTED_SETUP; any 1.x is accepted', async () => {
    const refused = rawClient();
    refused.peer.send(setupFrame({ majorVersion: 2, minorVersion: 0 }));
    await expectRefused(refused.peer, refused.server, { code: 0x002, message: 'UNSUPPORTED_SETUP: protocol version 2.0 is not supported (1.x only)' });
    const ok = rawClient();
    ok.peer.send(setupFrame({ majorVersion: 1, minorVersion: 7 }));
    await settle();
    expect(ok.server.isOpen).toBe(true);
    expect(ok.accept).toHaveBeenCalledTimes(1);
  });

  it('accept() throwing REJECTED_SETUP sends it on stream 0 and closes; close listeners get the error', async () => {
    const { server, peer } = rawClient({
      server: {
        accept: () => {
          throw new SluiceError('REJECTED_SETUP', "registration: 'service' must be a string");
        },
      },
    });
    const closed: Array<SluiceError | undefined> = [];
    server.onClose((e) => closed.push(e));
    peer.send(setupFrame());
    await expectRefused(peer, server, { code: 0x003, message: "REJECTED_SETUP: registration: 'service' must be a string" });
    expect(closed.map((e) => e?.code)).toEqual(['REJECTED_SETUP']);
  });

  it('accept() throwing a non-setup error still refuses with a connection-level code (REJECTED_SETUP), never APPLICATION_ERROR on stream 0', async () => {
    const { server, peer } = rawClient({
      server: {
        accept: () => {
          throw new TypeError('bug in accept');
        },
      },
    });
    peer.send(setupFrame());
    await expectRefused(peer, server, { code: 0x003, message: 'REJECTED_SETUP: bug in accept' });
  });

  it('no SETUP within setupTimeoutMs is INVALID_SETUP', async () => {
    vi.useFakeTimers();
    const { server, peer } = rawClient({ server: { setupTimeoutMs: 500 } });
    await vi.advanceTimersByTimeAsync(499);
    expect(server.isOpen).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    await expectRefused(peer, server, { code: 0x001, message: 'INVALID_SETUP: no SETUP frame within 500 ms' });
  });

  it('the default setup timeout is 10 s, and a SETUP in time cancels it', async () => {
    vi.useFakeTimers();
    const late = rawClient();
    const onTime = rawClient();
    await vi.advanceTimersByTimeAsync(9_999);
    onTime.peer.send(setupFrame());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(errorsIn(late.peer.frames)).toEqual([{ streamId: 0, code: 0x001, message: 'INVALID_SETUP: no SETUP frame within 10000 ms' }]);
    expect(onTime.server.isOpen).toBe(true);
    expect(onTime.peer.frames).toEqual([]);
  });

  it('a second SETUP is a PROTOCOL_VIOLATION', async () => {
    const { server, peer } = await openRawClient();
    peer.send(setupFrame());
    await expectRefused(peer, server, { code: 0x101, message: 'PROTOCOL_VIOLATION: SETUP received twice' });
  });

  it('requests before SETUP are refused locally with UNAVAILABLE', () => {
    const { server } = rawClient();
    expect(() => server.requestStream(p('x'), 1, recorder())).toThrow(new SluiceError('UNAVAILABLE', 'connection c1 is not set up'));
  });
});

// ------------------------------------------------------- asynchronous accept

/** A server-role Connection whose accept() decides when the test says. */
function deferredClient(o: { limits?: Partial<ConnectionLimits> } = {}) {
  let decide!: { resolve: (r: Responder) => void; reject: (e: unknown) => void };
  const decision = new Promise<Responder>((resolve, reject) => (decide = { resolve, reject }));
  const responder = testResponder((s) => {
    s.stream.next(p(`echo:${s.data}`));
    s.stream.complete();
  });
  const r = rawClient({ responder, ...o, server: { accept: () => decision } });
  return { ...r, decide, responder };
}

describe('asynchronous accept', () => {
  it('answers nothing until accepted, then replays held frames in order (the confirming ping included)', async () => {
    const { server, peer, decide, responder } = deferredClient();
    peer.send(setupFrame());
    peer.send(encodeKeepAlive(true, 0, u8('ping')));
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 1, 0, p('first')));
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 3, 0, p('second')));
    await settle();
    expect(peer.frames).toEqual([]);
    expect(responder.fnf).toEqual([]);
    expect(server.isOpen).toBe(true);
    decide.resolve(responder);
    await settle();
    expect(peer.frames.map((f) => f.type)).toEqual([FrameType.KEEPALIVE, FrameType.PAYLOAD, FrameType.PAYLOAD]);
    expect(responder.fnf).toEqual(['first']);
    expect(responder.served.map((s) => s.data)).toEqual(['second']);
    expect(server.setup).toBeDefined();
  });

  it('a client ping resolves only once the server accepted', async () => {
    const [ct, st] = memoryPair();
    let accept!: () => void;
    const gate = new Promise<void>((r) => (accept = r));
    const server = ServerConnection.accept(st, { accept: () => gate.then(() => testResponder()) }, { id: 'c1' });
    const client = Connection.connect(ct, MIME, testResponder(), { id: 'k1' });
    cleanups.push(() => client.close());
    let pinged = false;
    const ping = client.ping().then(() => (pinged = true));
    await settle();
    expect(pinged).toBe(false);
    accept();
    await ping;
    expect(server.setup).toBeDefined();
  });

  it('a rejection is sent on stream 0 with its code, and held frames are dropped', async () => {
    const { server, peer, decide, responder } = deferredClient();
    peer.send(setupFrame());
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 1, 0, p('never')));
    await settle();
    decide.reject(new SluiceError('UNAUTHENTICATED', 'token expired at 2026-01-01T00:00:00.000Z'));
    await expectRefused(peer, server, { code: 0x003, message: 'UNAUTHENTICATED: token expired at 2026-01-01T00:00:00.000Z' });
    expect(responder.fnf).toEqual([]);
  });

  it('more than MAX_HELD_FRAMES frames before acceptance closes with PROTOCOL_VIOLATION', async () => {
    const { server, peer, decide } = deferredClient();
    peer.send(setupFrame());
    for (let i = 0; i <= MAX_HELD_FRAMES; i++) peer.send(encodeKeepAlive(false, 0));
    await expectRefused(peer, server, {
      code: 0x101,
      message: `PROTOCOL_VIOLATION: more than ${MAX_HELD_FRAMES} frames or 1048576 bytes sent before the SETUP was accepted; wait for the answer to a KEEPALIVE first`,
    });
    decide.resolve(testResponder());
    await settle();
    expect(server.isOpen).toBe(false);
  });

  it('more than maxPayloadSize bytes before acceptance closes with PROTOCOL_VIOLATION', async () => {
    const { server, peer } = deferredClient({ limits: { maxPayloadSize: 2048 } });
    peer.send(setupFrame());
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 1, 0, bytesOf(1500)));
    await settle();
    expect(server.isOpen).toBe(true);
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 3, 0, bytesOf(1500)));
    await settle();
    expect(errorsIn(peer.frames).map((e) => e.code)).toEqual([0x101]);
    expect(server.isOpen).toBe(false);
  });

  it('a peer that disconnects while accept() decides is never opened', async () => {
    const { server, peer, decide, responder } = deferredClient();
    peer.send(setupFrame());
    await settle();
    peer.transport.close();
    await settle();
    decide.resolve(responder);
    await settle();
    expect(server.isOpen).toBe(false);
    expect(server.setup).toBeUndefined();
  });

  it('the setup timeout covers the wait for acceptance', async () => {
    vi.useFakeTimers();
    const { server, peer } = rawClient({ server: { setupTimeoutMs: 500, accept: () => new Promise<Responder>(() => {}) } });
    peer.send(setupFrame());
    await vi.advanceTimersByTimeAsync(500);
    await expectRefused(peer, server, { code: 0x001, message: 'INVALID_SETUP: SETUP not accepted within 500 ms' });
  });
});

// ---------------------------------------------------------- malformed input

describe('malformed input', () => {
  it('bytes that do not decode end the connection with MALFORMED_FRAME on stream 0', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, p('x'), 1));
    peer.send(Uint8Array.of(0, 0, 1));
    await expectRefused(peer, server, { code: 0x101, message: 'MALFORMED_FRAME: frame of 3 bytes is shorter than the 6-byte header' });
    // The open stream learns why.
    expect(responder.served[0]!.handler.events).toEqual(['error:UNAVAILABLE:connection c1 closed: MALFORMED_FRAME: frame of 3 bytes is shorter than the 6-byte header']);
  });

  it('malformed bytes as the very first frame are MALFORMED_FRAME, not INVALID_SETUP', async () => {
    const { server, peer } = rawClient();
    peer.send(Uint8Array.from(Buffer.from('80000000 2400'.replace(' ', ''), 'hex')));
    await expectRefused(peer, server, { code: 0x101, message: 'MALFORMED_FRAME: stream id has its reserved high bit set' });
  });

  it.each([
    ['00000000 4000', 'MALFORMED_FRAME: unknown frame type 0x10'],
    ['00000003 0c80 0000000000000000', 'MALFORMED_FRAME: KEEPALIVE must be on stream 0, got stream 3'],
    ['00000000 2000 00000001', 'MALFORMED_FRAME: REQUEST_N must not be on stream 0'],
    ['00000001 2000 00000000', 'MALFORMED_FRAME: request n must be 1..2147483647, got 0'],
  ])('%s -> %s', async (hex, message) => {
    const { server, peer } = await openRawClient();
    peer.send(Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex')));
    await expectRefused(peer, server, { code: 0x101, message });
  });

  it('an unknown frame type with the IGNORE flag is skipped', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(Uint8Array.from(Buffer.from('000000014200abcdef', 'hex')));
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 1, 0, p('after')));
    await settle();
    expect(server.isOpen).toBe(true);
    expect(peer.frames).toEqual([]);
    expect(responder.fnf).toEqual(['after']);
  });

  it('something that cannot be a frame (onInvalid) is MALFORMED_FRAME with the transport reason', async () => {
    const { server, peer, st } = await openRawClient();
    st.injectInvalid('text WebSocket message');
    await expectRefused(peer, server, { code: 0x101, message: 'MALFORMED_FRAME: text WebSocket message' });
  });

  it('connection-only frames out of place on stream 0 are PROTOCOL_VIOLATION', async () => {
    const { server, peer } = await openRawClient();
    peer.send(Uint8Array.from(Buffer.from('00000000 0800 00001388 0000000a'.replace(/ /g, ''), 'hex')));
    await expectRefused(peer, server, { code: 0x101, message: 'PROTOCOL_VIOLATION: unexpected LEASE frame on stream 0' });
  });

  it('nothing is processed after the connection failed', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(Uint8Array.of(1));
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 1, 0, p('late')));
    await settle();
    expect(server.isOpen).toBe(false);
    expect(responder.fnf).toEqual([]);
    expect(errorsIn(peer.frames)).toHaveLength(1);
  });
});

// ----------------------------------------------------------------- keepalive

describe('keepalive', () => {
  it('a KEEPALIVE with RESPOND is answered with its data and the count of frames received; one without is not', async () => {
    const { peer } = await openRawClient();
    peer.send(encodeKeepAlive(true, 0, u8('echo me')));
    peer.send(encodeKeepAlive(false, 0, u8('ignored')));
    await settle();
    expect(peer.frames).toHaveLength(1);
    expect(peer.frames[0]).toMatchObject({ type: FrameType.KEEPALIVE, streamId: 0, flags: 0, lastReceivedPosition: 2 });
    expect(text((peer.frames[0] as { data: Uint8Array }).data)).toBe('echo me');
  });

  it('ping() resolves on the answer', async () => {
    const { client, peer } = await rawServer();
    let resolved = false;
    const ping = client.ping().then(() => (resolved = true));
    await settle();
    expect(peer.frames).toMatchObject([{ type: FrameType.KEEPALIVE, flags: Flags.RESPOND }]);
    expect(resolved).toBe(false);
    peer.send(encodeKeepAlive(false, 1));
    await ping;
    expect(resolved).toBe(true);
  });

  it('ping() rejects when the connection closes, and at once when already closed', async () => {
    const { client, peer } = await rawServer();
    const pending = client.ping();
    peer.send(encodeError(0, 0x102, 'CONNECTION_CLOSED: bye'));
    await expect(pending).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', message: 'bye' });
    await expect(client.ping()).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', message: 'bye' });
  });

  it('a client whose server stays silent closes with KEEPALIVE_TIMEOUT after the lifetime', async () => {
    vi.useFakeTimers();
    const { client, peer } = await rawServer({ keepAlive: { intervalMs: 1_000, lifetimeMs: 3_000 } });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(client.isOpen).toBe(true);
    // Checked every min(interval, lifetime / 4) = 750 ms: gone within two checks after the lifetime.
    await vi.advanceTimersByTimeAsync(1_500);
    expect(client.isOpen).toBe(false);
    await settle();
    const keepalives = peer.frames.filter((f) => f.type === FrameType.KEEPALIVE);
    expect(keepalives.length).toBeGreaterThanOrEqual(4);
    expect(keepalives.every((f) => f.flags === Flags.RESPOND)).toBe(true);
    expect(errorsIn(peer.frames)).toEqual([{ streamId: 0, code: 0x101, message: 'KEEPALIVE_TIMEOUT: no frame from the peer for 3000 ms' }]);
    expect(peer.closed).toBe(true);
  });

  it('any frame from the peer counts as life', async () => {
    vi.useFakeTimers();
    const { client, peer } = await rawServer({ keepAlive: { intervalMs: 1_000, lifetimeMs: 3_000 } });
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      peer.send(encodeCancel(99));
    }
    expect(client.isOpen).toBe(true);
  });

  it('the server clamps a lifetime below minLifetimeMs up to it', async () => {
    vi.useFakeTimers();
    const { server, peer } = rawClient({ server: { minLifetimeMs: 1_000 } });
    peer.send(setupFrame({ keepAlive: 100, lifetime: 500 }));
    await settle();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(server.isOpen).toBe(true);
    await vi.advanceTimersByTimeAsync(200);
    await expectRefused(peer, server, { code: 0x101, message: 'KEEPALIVE_TIMEOUT: no frame from the peer for 1000 ms' });
  });

  it('the server clamps a lifetime above maxLifetimeMs down to it', async () => {
    vi.useFakeTimers();
    const { server, peer } = rawClient({ server: { maxLifetimeMs: 2_000 } });
    peer.send(setupFrame({ keepAlive: 20_000, lifetime: 600_000 }));
    await settle();
    await vi.advanceTimersByTimeAsync(2_500);
    expect(server.isOpen).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    await expectRefused(peer, server, { code: 0x101, message: 'KEEPALIVE_TIMEOUT: no frame from the peer for 2000 ms' });
  });

  it('a live pair keeps each other alive indefinitely', async () => {
    vi.useFakeTimers();
    const { client, server, ct } = await pair({ keepAlive: { intervalMs: 1_000, lifetimeMs: 3_000 } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect([client.isOpen, server.isOpen]).toEqual([true, true]);
    // 60 s / 750 ms ticks
    expect(ct.sent.length).toBeGreaterThanOrEqual(80);
  });
});

// ------------------------------------------------------- interaction models

describe('the four interaction models end to end', () => {
  it('fire-and-forget opens no stream', async () => {
    const { client, server, responder } = await pair();
    client.fireAndForget(p('f1', 'm1'));
    client.fireAndForget(p('f2'));
    expect(client.activeStreams).toBe(0);
    await settle();
    expect(responder.fnf).toEqual(['f1', 'f2']);
    expect(server.activeStreams).toBe(0);
  });

  it('request-response', async () => {
    const responder = testResponder((s) => {
      if (s.model === 'response') s.stream.next(p(`pong:${s.data}`, `md:${s.metadata}`), true);
    });
    const { client, server } = await pair({ responder });
    const rec = recorder();
    const stream = client.requestResponse(p('ping', 'route'), rec);
    expect([stream.id, client.activeStreams]).toEqual([1, 1]);
    await settle();
    expect(responder.served.map((s) => [s.model, s.data, s.metadata])).toEqual([['response', 'ping', 'route']]);
    expect(rec.events).toEqual(['next:pong:ping|md:route', 'complete']);
    expect([client.activeStreams, server.activeStreams]).toEqual([0, 0]);
  });

  it('request-stream paced by demand', async () => {
    const { client, server, responder } = await pair();
    const rec = recorder();
    const stream = client.requestStream(p('subscribe'), 2, rec);
    await settle();
    const s = responder.served[0]!;
    expect([s.model, s.data, s.stream.sendCredit, s.stream.totalRequested]).toEqual(['stream', 'subscribe', 2, 2]);
    s.stream.next(p('1'));
    s.stream.next(p('2'));
    expect(() => s.stream.next(p('3'))).toThrow('stream 1: send without demand');
    stream.request(3);
    await settle();
    expect(s.handler.events).toEqual(['request:3']);
    s.stream.next(p('3'));
    s.stream.next(p('4'));
    s.stream.complete();
    await settle();
    expect(rec.events).toEqual(['next:1', 'next:2', 'next:3', 'next:4', 'complete']);
    expect(s.stream.totalRequested).toBe(5);
    expect([client.activeStreams, server.activeStreams]).toEqual([0, 0]);
  });

  it('request-channel with demand in both directions', async () => {
    const { client, server, responder } = await pair();
    const rec = recorder();
    const stream = client.requestChannel(p('in0'), 1, false, rec);
    await settle();
    const s = responder.served[0]!;
    expect([s.model, s.data, s.complete]).toEqual(['channel', 'in0', false]);
    // The requester may send nothing more until the responder grants it.
    expect(() => stream.next(p('in1'))).toThrow('stream 1: send without demand');
    s.stream.request(2);
    await settle();
    expect(rec.events).toEqual(['request:2']);
    stream.next(p('in1'));
    stream.next(p('in2'));
    s.stream.next(p('out1'));
    await settle();
    expect(s.handler.events).toEqual(['next:in1', 'next:in2']);
    expect(rec.events).toEqual(['request:2', 'next:out1']);
    stream.complete();
    await settle();
    expect(s.handler.events.at(-1)).toBe('complete');
    expect([client.activeStreams, server.activeStreams]).toEqual([1, 1]);
    stream.request(1);
    await settle();
    s.stream.next(p('out2'), true);
    await settle();
    expect(rec.events).toEqual(['request:2', 'next:out1', 'next:out2', 'complete']);
    expect([client.activeStreams, server.activeStreams]).toEqual([0, 0]);
  });

  it('a channel opened complete carries its only input in the request frame', async () => {
    const { client, responder } = await pair();
    const stream = client.requestChannel(p('only'), 1, true, recorder());
    expect(stream.outboundDone).toBe(true);
    await settle();
    const s = responder.served[0]!;
    expect([s.data, s.complete, s.stream.inboundDone]).toEqual(['only', true, true]);
  });

  it('the server can be the requester too (even stream ids)', async () => {
    const { client, server, clientResponder } = await pair();
    const rec = recorder();
    const first = server.requestStream(p('from server'), 1, rec);
    const second = server.requestResponse(p('again'), recorder());
    expect([first.id, second.id]).toEqual([2, 4]);
    await settle();
    clientResponder.served[0]!.stream.next(p('reply'), true);
    await settle();
    expect(rec.events).toEqual(['next:reply', 'complete']);
    expect(client.activeStreams).toBe(1);
  });

  it('works the same over a transport that delivers synchronously (re-entrant sends)', () => {
    const [ct, st] = memoryPair({ sync: true });
    // The responder answers from inside the frame handler: every send re-enters the peer at once.
    const responder = testResponder((s) => {
      if (s.model === 'response') s.stream.next(p(`re:${s.data}`), true);
      if (s.model === 'channel') s.stream.request(2);
    });
    const server = ServerConnection.accept(st, { accept: () => responder }, { id: 'c1' });
    const client = Connection.connect(ct, MIME, testResponder(), { id: 'k1' });
    cleanups.push(() => client.close());
    const rr = recorder();
    client.requestResponse(p('q'), rr);
    expect(rr.events).toEqual(['next:re:q', 'complete']);
    const ch = recorder();
    const stream = client.requestChannel(p('c0'), 1, false, ch);
    expect(ch.events).toEqual(['request:2']);
    stream.next(p('c1'));
    stream.complete();
    const s = responder.served[1]!;
    expect(s.handler.events).toEqual(['next:c1', 'complete']);
    s.stream.next(p('out'), true);
    expect(ch.events).toEqual(['request:2', 'next:out', 'complete']);
    expect([client.activeStreams, server.activeStreams]).toEqual([0, 0]);
  });

  it('METADATA_PUSH reaches the responder', async () => {
    const { client, responder } = await pair();
    client.metadataPush(u8('config-v2'));
    await settle();
    expect(responder.pushes).toEqual(['config-v2']);
  });

  it('client stream ids are odd and increase', async () => {
    const { client } = await pair();
    expect([client.requestStream(p('a'), 1, recorder()).id, client.requestResponse(p('b'), recorder()).id, client.requestChannel(p('c'), 1, false, recorder()).id]).toEqual([1, 3, 5]);
    client.fireAndForget(p('d'));
    expect(client.requestStream(p('e'), 1, recorder()).id).toBe(9);
  });

  it('a responder that throws ends only that stream, with INTERNAL', async () => {
    let calls = 0;
    const responder = testResponder((s) => {
      if (s.data === 'boom' && calls++ === 0) throw new Error('handler bug');
    });
    const { client, server } = await pair({ responder });
    const bad = recorder();
    client.requestStream(p('boom'), 1, bad);
    const good = recorder();
    client.requestResponse(p('fine'), good);
    await settle();
    expect(bad.events).toEqual(['error:INTERNAL:handler bug']);
    responder.served[1]!.stream.next(p('ok'), true);
    await settle();
    expect(good.events).toEqual(['next:ok', 'complete']);
    expect(server.isOpen).toBe(true);
  });

  it('requestStream and requestChannel refuse an initial n that is not a positive integer', async () => {
    const { client } = await pair();
    expect(() => client.requestStream(p('x'), 0, recorder())).toThrow(new RangeError('request n must be a positive integer, got 0'));
    expect(() => client.requestChannel(p('x'), 1.5, false, recorder())).toThrow(new RangeError('request n must be a positive integer, got 1.5'));
    expect(client.activeStreams).toBe(0);
  });
});

// ------------------------------------------------------------------- demand

describe('demand enforcement', () => {
  it('as responder: a PAYLOAD beyond granted credit ends the stream with ERROR DEMAND_EXCEEDED (0x204)', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_CHANNEL, 1, 0, p('first'), 1));
    await settle();
    const s = responder.served[0]!;
    s.stream.request(1);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p('granted')));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p('not granted')));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p('ignored')));
    await settle();
    expect(errorsIn(peer.frames)).toEqual([{ streamId: 1, code: 0x204, message: 'DEMAND_EXCEEDED: stream 1 received a payload with no request outstanding' }]);
    expect(s.handler.events).toEqual(['next:granted', 'error:DEMAND_EXCEEDED:stream 1 received a payload with no request outstanding']);
    expect(server.activeStreams).toBe(0);
    expect(server.isOpen).toBe(true);
  });

  it('as requester: a PAYLOAD beyond the requested n is answered with CANCEL', async () => {
    const { client, peer } = await rawServer();
    const rec = recorder();
    client.requestStream(p('x'), 2, rec);
    for (const item of ['1', '2', '3', '4']) peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p(item)));
    await settle();
    expect(typesIn(peer.frames)).toEqual([`${FrameType.REQUEST_STREAM}@1`, `${FrameType.CANCEL}@1`]);
    expect(rec.events).toEqual(['next:1', 'next:2', 'error:DEMAND_EXCEEDED:stream 1 received a payload with no request outstanding']);
    expect(client.activeStreams).toBe(0);
    expect(client.isOpen).toBe(true);
  });

  it('a request-response takes one payload; a second is never delivered', async () => {
    const { client, peer } = await rawServer();
    const rec = recorder();
    client.requestResponse(p('q'), rec);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p('a1')));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p('a2')));
    await settle();
    expect(rec.events).toEqual(['next:a1']);
    expect(client.activeStreams).toBe(0);
  });

  it('an initial n of 2^31-1 is unbounded on both sides', async () => {
    const { client, responder } = await pair();
    const stream = client.requestStream(p('all'), MAX_REQUEST_N, recorder());
    await settle();
    expect(stream.receiveCredit).toBe(Infinity);
    expect(responder.served[0]!.stream.sendCredit).toBe(Infinity);
    expect(responder.served[0]!.stream.totalRequested).toBe(MAX_REQUEST_N);
  });

  it('an initial n above 2^31-1 goes on the wire as 2^31-1', async () => {
    const { client, peer } = await rawServer();
    client.requestChannel(p('x'), 2 ** 40, false, recorder());
    await settle();
    expect(peer.frames).toMatchObject([{ type: FrameType.REQUEST_CHANNEL, requestN: MAX_REQUEST_N }]);
  });

  it('REQUEST_N summing past 2^31-1 saturates at unbounded', async () => {
    const { client, responder } = await pair();
    const stream = client.requestStream(p('x'), 1, recorder());
    stream.request(MAX_REQUEST_N - 1);
    stream.request(MAX_REQUEST_N);
    await settle();
    const s = responder.served[0]!;
    expect(s.stream.sendCredit).toBe(Infinity);
    expect(s.handler.events).toEqual([`request:${MAX_REQUEST_N - 1}`, `request:${MAX_REQUEST_N}`]);
    for (let i = 0; i < 1_000; i++) s.stream.next(p(String(i)));
    expect(s.stream.sendCredit).toBe(Infinity);
  });
});

// ------------------------------------------------------- channel half-close

describe('channel half-close', () => {
  async function channel() {
    const ctx = await pair();
    const rec = recorder();
    const stream = ctx.client.requestChannel(p('in0'), 5, false, rec);
    await settle();
    const s = ctx.responder.served[0]!;
    s.stream.request(5);
    await settle();
    return { ...ctx, rec, stream, s };
  }

  it('requester CANCEL ends both directions', async () => {
    const { client, server, rec, stream, s } = await channel();
    stream.cancel();
    expect(client.activeStreams).toBe(0);
    await settle();
    expect(s.handler.events).toEqual(['cancel']);
    expect(server.activeStreams).toBe(0);
    expect(() => s.stream.next(p('late'))).toThrow('stream 1: send after completion');
    expect(rec.events).toEqual(['request:5']);
  });

  it('responder CANCEL ends only the requester input; the responder output goes on', async () => {
    const { client, server, rec, stream, s } = await channel();
    s.stream.cancel();
    await settle();
    expect(rec.events).toEqual(['request:5', 'cancel']);
    expect(() => stream.next(p('more'))).toThrow('stream 1: send after completion');
    expect([client.activeStreams, server.activeStreams]).toEqual([1, 1]);
    s.stream.next(p('out'));
    s.stream.complete();
    await settle();
    expect(rec.events).toEqual(['request:5', 'cancel', 'next:out', 'complete']);
    expect([client.activeStreams, server.activeStreams]).toEqual([0, 0]);
  });

  it('COMPLETE ends one direction at a time; the stream is released when both are done', async () => {
    const { client, server, rec, stream, s } = await channel();
    s.stream.complete();
    await settle();
    expect(rec.events).toEqual(['request:5', 'complete']);
    expect([client.activeStreams, server.activeStreams]).toEqual([1, 1]);
    stream.next(p('still sending'));
    await settle();
    expect(s.handler.events).toEqual(['next:still sending']);
    stream.complete();
    expect(client.activeStreams).toBe(0);
    await settle();
    expect(s.handler.events).toEqual(['next:still sending', 'complete']);
    expect(server.activeStreams).toBe(0);
  });

  it('requester COMPLETE first, then responder COMPLETE', async () => {
    const { client, server, rec, stream, s } = await channel();
    stream.complete();
    await settle();
    expect(s.handler.events).toEqual(['complete']);
    expect([client.activeStreams, server.activeStreams]).toEqual([1, 1]);
    s.stream.next(p('answer'), true);
    expect(server.activeStreams).toBe(0);
    await settle();
    expect(rec.events).toEqual(['request:5', 'next:answer', 'complete']);
    expect(client.activeStreams).toBe(0);
  });

  it('ERROR from the responder ends both directions', async () => {
    const { client, server, rec, s } = await channel();
    s.stream.error(new SluiceError('INVALID_ARGUMENT', 'bad item'));
    expect(server.activeStreams).toBe(0);
    await settle();
    expect(rec.events).toEqual(['request:5', 'error:INVALID_ARGUMENT:bad item']);
    expect(client.activeStreams).toBe(0);
  });

  it('ERROR from the requester ends both directions', async () => {
    const { client, server, stream, s } = await channel();
    stream.error(new SluiceError('CANCELED', 'user gave up'));
    expect(client.activeStreams).toBe(0);
    await settle();
    expect(s.handler.events).toEqual(['error:CANCELED:user gave up']);
    expect(server.activeStreams).toBe(0);
  });
});

// ------------------------------------------------------------------- limits

describe('limits', () => {
  it('maxInboundStreams: a stream over the limit gets OVERLOADED (0x202) while the others keep working', async () => {
    const { client, server, st, responder } = await pair({ serverLimits: { maxInboundStreams: 1 } });
    const first = recorder();
    client.requestStream(p('a'), 1, first);
    const refused = recorder();
    client.requestStream(p('b'), 1, refused);
    await settle();
    expect(refused.events).toEqual(['error:OVERLOADED:too many open streams on this connection (limit 1)']);
    expect(errorsIn(st.sent.map((b) => decodeFrameSafe(b)))).toEqual([{ streamId: 3, code: 0x202, message: 'OVERLOADED: too many open streams on this connection (limit 1)' }]);
    expect(responder.served.map((s) => s.data)).toEqual(['a']);
    responder.served[0]!.stream.next(p('a1'), true);
    await settle();
    expect(first.events).toEqual(['next:a1', 'complete']);
    // The slot is free again.
    client.requestResponse(p('c'), recorder());
    await settle();
    expect(responder.served.map((s) => s.data)).toEqual(['a', 'c']);
    expect(server.isOpen).toBe(true);
  });

  it('maxOutboundStreams: opening one more throws OVERLOADED; fire-and-forget is not a stream', async () => {
    const { client } = await pair({ clientLimits: { maxOutboundStreams: 1 } });
    const open = client.requestStream(p('a'), 1, recorder());
    expect(() => client.requestResponse(p('b'), recorder())).toThrow(new SluiceError('OVERLOADED', 'too many open streams on connection k1 (limit 1)'));
    try {
      client.requestChannel(p('c'), 1, false, recorder());
    } catch (err) {
      expect((err as SluiceError).code).toBe('OVERLOADED');
    }
    expect(() => client.fireAndForget(p('f'))).not.toThrow();
    open.cancel();
    expect(() => client.requestResponse(p('b'), recorder())).not.toThrow();
  });

  it('maxPayloadSize: a request frame over it gets PAYLOAD_TOO_LARGE (0x204) on its stream; the connection goes on', async () => {
    const { client, server, st, responder } = await pair({ serverLimits: { maxPayloadSize: 16 } });
    const big = recorder();
    client.requestStream({ data: new Uint8Array(10), metadata: new Uint8Array(7) }, 1, big);
    const exact = recorder();
    client.requestResponse({ data: new Uint8Array(9), metadata: new Uint8Array(7) }, exact);
    await settle();
    expect(big.events).toEqual(['error:PAYLOAD_TOO_LARGE:stream 1: payload of 17 bytes is over the 16-byte limit']);
    expect(errorsIn(st.sent.map(decodeFrameSafe))).toEqual([{ streamId: 1, code: 0x204, message: 'PAYLOAD_TOO_LARGE: stream 1: payload of 17 bytes is over the 16-byte limit' }]);
    expect(responder.served.map((s) => s.model)).toEqual(['response']);
    expect([server.isOpen, server.activeStreams]).toEqual([true, 1]);
  });

  it('maxPayloadSize: a fire-and-forget over it is dropped', async () => {
    const { client, server, responder } = await pair({ serverLimits: { maxPayloadSize: 16 } });
    client.fireAndForget(bytesOf(17));
    client.fireAndForget(p('small'));
    await settle();
    expect(responder.fnf).toEqual(['small']);
    expect(server.isOpen).toBe(true);
  });

  it('maxPayloadSize: a channel input payload over it ends the stream with ERROR PAYLOAD_TOO_LARGE', async () => {
    const { client, server, responder } = await pair({ serverLimits: { maxPayloadSize: 16 } });
    const rec = recorder();
    const stream = client.requestChannel(p('in0'), 1, false, rec);
    await settle();
    const s = responder.served[0]!;
    s.stream.request(2);
    await settle();
    stream.next(bytesOf(17));
    await settle();
    expect(rec.events).toEqual(['request:2', 'error:PAYLOAD_TOO_LARGE:stream 1: payload of 17 bytes is over the 16-byte limit']);
    expect(s.handler.events).toEqual(['error:PAYLOAD_TOO_LARGE:stream 1: payload of 17 bytes is over the 16-byte limit']);
    expect([client.activeStreams, server.activeStreams, server.isOpen]).toEqual([0, 0, true]);
  });

  it('maxPayloadSize: a requester receiving a payload over it cancels', async () => {
    const { client, peer } = await rawServer({ limits: { maxPayloadSize: 16 } });
    const rec = recorder();
    client.requestStream(p('x'), 5, rec);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { data: new Uint8Array(16), metadata: null }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { data: new Uint8Array(10), metadata: new Uint8Array(7) }));
    await settle();
    expect(rec.events).toEqual([`next:${'\0'.repeat(16)}`, 'error:PAYLOAD_TOO_LARGE:stream 1: payload of 17 bytes is over the 16-byte limit']);
    expect(typesIn(peer.frames)).toEqual([`${FrameType.REQUEST_STREAM}@1`, `${FrameType.CANCEL}@1`]);
  });
});

// ---------------------------------------------------------------- fragments

describe('streams that relay frames', () => {
  it('a whole PAYLOAD reaches a relaying stream as its frame, with the empty RELAYED_FRAME for payload; others get the decoded views; fragments are reassembled for both', async () => {
    const { client, peer } = await rawServer();
    const relay: Array<[Payload, Uint8Array | undefined]> = [];
    const relayHandler: StreamHandler = { ...recorder(), onNext: (payload, frame) => void relay.push([payload, frame]) };
    const relayed = client.requestStream(p('x'), 3, relayHandler);
    relayed.relaysFrames = true;
    const plain = recorder();
    client.requestStream(p('y'), 3, plain);
    const whole = (id: number) => encodePayloadFrame(FrameType.PAYLOAD, id, Flags.NEXT, { metadata: u8('meta'), data: u8('data') });
    peer.send(whole(1));
    peer.send(whole(3));
    // A fragmented payload has no one frame to pass on: it arrives reassembled, as a payload, on either kind of stream.
    for (const id of [1, 3]) {
      peer.send(encodePayloadFrame(FrameType.PAYLOAD, id, Flags.NEXT | Flags.FOLLOWS, { metadata: u8('m'), data: u8('d1') }));
      peer.send(encodePayloadFrame(FrameType.PAYLOAD, id, Flags.NEXT, { metadata: null, data: u8('d2') }));
    }
    await settle();
    expect(relay[0]![0]).toBe(RELAYED_FRAME);
    expect(RELAYED_FRAME).toEqual({ data: null, metadata: null });
    expect(Object.isFrozen(RELAYED_FRAME)).toBe(true);
    expect(Array.from(relay[0]![1]!)).toEqual(Array.from(whole(1)));
    expect([text(relay[1]![0].metadata), text(relay[1]![0].data), relay[1]![1]]).toEqual(['m', 'd1d2', undefined]);
    expect(plain.events).toEqual(['next:data|meta', 'next:d1d2|m']);
    expect(Array.from(plain.frames[0]!)).toEqual(Array.from(whole(3)));
    expect(plain.frames[1]).toBeUndefined();
  });
});

describe('fragmentation (FOLLOWS)', () => {
  it('reassembles a fragmented request frame before the responder sees it', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, Flags.FOLLOWS, { metadata: u8('me'), data: null }, 7));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.FOLLOWS, { metadata: u8('ta'), data: u8('da') }));
    await settle();
    expect(responder.served).toEqual([]);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: u8('ta') }));
    await settle();
    expect(responder.served.map((s) => [s.model, s.metadata, s.data, s.stream.sendCredit])).toEqual([['stream', 'meta', 'data', 7]]);
    expect(server.activeStreams).toBe(1);
  });

  it('a fragmented channel request keeps the COMPLETE of its first or last fragment', async () => {
    const { peer, responder } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_CHANNEL, 1, Flags.FOLLOWS | Flags.COMPLETE, { metadata: null, data: u8('a') }, 1));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: u8('b') }));
    peer.send(encodePayloadFrame(FrameType.REQUEST_CHANNEL, 3, Flags.FOLLOWS, { metadata: null, data: u8('c') }, 1));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 3, Flags.NEXT | Flags.COMPLETE, { metadata: null, data: u8('d') }));
    peer.send(encodePayloadFrame(FrameType.REQUEST_CHANNEL, 5, Flags.FOLLOWS, { metadata: null, data: u8('e') }, 1));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 5, Flags.NEXT, { metadata: null, data: u8('f') }));
    await settle();
    expect(responder.served.map((s) => [s.data, s.complete])).toEqual([
      ['ab', true],
      ['cd', true],
      ['ef', false],
    ]);
  });

  it('reassembles fragmented payloads on an open stream; one payload spends one credit', async () => {
    const { client, peer } = await rawServer();
    const rec = recorder();
    client.requestStream(p('x'), 2, rec);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.FOLLOWS, { metadata: u8('m1'), data: u8('d1') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.FOLLOWS, { metadata: null, data: u8('d2') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: u8('d3') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.COMPLETE, p('whole')));
    await settle();
    expect(rec.events).toEqual(['next:d1d2d3|m1', 'next:whole', 'complete']);
    // Reassembled payloads have no single raw frame to forward.
    expect(rec.frames[0]).toBeUndefined();
    expect(rec.frames[1]).toBeInstanceOf(Uint8Array);
    expect(client.activeStreams).toBe(0);
  });

  it('a reassembled request over maxPayloadSize is refused with PAYLOAD_TOO_LARGE; later fragments are ignored', async () => {
    const { server, peer, responder } = await openRawClient({ limits: { maxPayloadSize: 8 } });
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, Flags.FOLLOWS, { metadata: null, data: u8('1234') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.FOLLOWS, { metadata: null, data: u8('5678') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.FOLLOWS, { metadata: null, data: u8('9') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: u8('0') }));
    await settle();
    expect(errorsIn(peer.frames)).toEqual([{ streamId: 1, code: 0x204, message: 'PAYLOAD_TOO_LARGE: stream 1: reassembled payload is over the 8-byte limit' }]);
    expect(responder.served).toEqual([]);
    expect(server.isOpen).toBe(true);
    // The id is free again.
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, p('ok')));
    await settle();
    expect(responder.served.map((s) => s.data)).toEqual(['ok']);
  });

  it('a first request fragment already over maxPayloadSize is refused at once', async () => {
    const { peer, responder } = await openRawClient({ limits: { maxPayloadSize: 8 } });
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, Flags.FOLLOWS, { metadata: u8('mm'), data: u8('1234567') }, 1));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: u8('x') }));
    await settle();
    expect(errorsIn(peer.frames)).toEqual([{ streamId: 1, code: 0x204, message: 'PAYLOAD_TOO_LARGE: stream 1: payload of 9 bytes is over the 8-byte limit' }]);
    expect(responder.served).toEqual([]);
  });

  it('reassembled payloads over maxPayloadSize end the stream (requester cancels)', async () => {
    const { client, peer } = await rawServer({ limits: { maxPayloadSize: 8 } });
    const rec = recorder();
    client.requestStream(p('x'), 5, rec);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.FOLLOWS, { metadata: null, data: u8('12345') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.FOLLOWS, { metadata: null, data: u8('6789') }));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, { metadata: null, data: u8('0') }));
    await settle();
    expect(rec.events).toEqual(['error:PAYLOAD_TOO_LARGE:stream 1: reassembled payload is over the 8-byte limit']);
    expect(typesIn(peer.frames)).toEqual([`${FrameType.REQUEST_STREAM}@1`, `${FrameType.CANCEL}@1`]);
    expect(client.activeStreams).toBe(0);
  });

  it('at most 32 payloads are reassembled at once; further ones are refused with OVERLOADED', async () => {
    const { server, peer, responder } = await openRawClient();
    for (let i = 0; i < 33; i++) peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1 + 2 * i, Flags.FOLLOWS, { metadata: null, data: u8('part') }));
    await settle();
    expect(errorsIn(peer.frames)).toEqual([{ streamId: 65, code: 0x202, message: 'OVERLOADED: stream 65: too many fragmented payloads in progress on this connection (limit 32)' }]);
    // The 32 in progress complete normally.
    for (let i = 0; i < 32; i++) peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1 + 2 * i, Flags.NEXT, { metadata: null, data: u8('!') }));
    await settle();
    expect(responder.served).toHaveLength(32);
    expect(responder.served.every((s) => s.data === 'part!')).toBe(true);
    expect(server.isOpen).toBe(true);
  });
});

describe('fragment timeout', () => {
  it('a fragmented request not completed within fragmentTimeoutMs ends with FRAGMENT_TIMEOUT, oldest first; the connection goes on', async () => {
    vi.useFakeTimers();
    const { server, peer, responder } = await openRawClient({ limits: { fragmentTimeoutMs: 1_000 } });
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, Flags.FOLLOWS, p('a'), 1));
    await vi.advanceTimersByTimeAsync(600);
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 3, Flags.FOLLOWS, p('b')));
    await vi.advanceTimersByTimeAsync(399);
    expect(errorsIn(peer.frames)).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const timeout = (id: number) => ({ streamId: id, code: 0x204, message: `FRAGMENT_TIMEOUT: stream ${id}: fragmented payload not completed within 1000 ms; its fragments were dropped` });
    expect(errorsIn(peer.frames)).toEqual([timeout(1)]);
    // A late fragment for the dropped payload is ignored; the one still in time completes.
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, p('late')));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 3, Flags.NEXT, p('!')));
    await vi.advanceTimersByTimeAsync(0);
    expect(responder.served.map((s) => s.data)).toEqual(['b!']);
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 5, Flags.FOLLOWS, p('c')));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(errorsIn(peer.frames)).toEqual([timeout(1), timeout(5)]);
    expect(server.isOpen).toBe(true);
  });

  it('a fragmented payload on an open stream that is never completed ends the stream (requester cancels)', async () => {
    vi.useFakeTimers();
    const { client, peer } = await rawServer({ limits: { fragmentTimeoutMs: 500 } });
    const rec = recorder();
    client.requestStream(p('x'), 5, rec);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT | Flags.FOLLOWS, p('12345')));
    await vi.advanceTimersByTimeAsync(500);
    expect(rec.events).toEqual(['error:FRAGMENT_TIMEOUT:stream 1: fragmented payload not completed within 500 ms; its fragments were dropped']);
    expect(typesIn(peer.frames)).toEqual([`${FrameType.REQUEST_STREAM}@1`, `${FrameType.CANCEL}@1`]);
    expect(client.isOpen).toBe(true);
  });
});

describe('memory budget', () => {
  it('counts fragments in progress (the whole blocks they are copied into) and unflushed outbound bytes, and gives them back', async () => {
    const memory = new MemoryBudget(Infinity);
    const { server, peer, st } = await openRawClient({ memory });
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, Flags.FOLLOWS, bytesOf(1000)));
    await settle();
    expect(memory.usedBy('reassembly')).toBe(BLOCK_BYTES);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.FOLLOWS, bytesOf(BLOCK_BYTES)));
    await settle();
    expect(memory.usedBy('reassembly')).toBe(2 * BLOCK_BYTES);
    st.setBufferedBytes(4096);
    server.sendFrame(encodeKeepAlive(false, 0));
    expect(memory.usedBy('outbound')).toBeGreaterThanOrEqual(4096);
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, bytesOf(1)));
    await settle();
    expect(memory.usedBy('reassembly')).toBe(0);
    server.close();
    expect(memory.used).toBe(0);
  });

  it('over the budget, the connection holding the most fragments has them dropped with OVERLOADED; the other keeps its own', async () => {
    // Each fragment below is held in one block: the small connection holds one, the big one two, and the budget is 2.5.
    const memory = new MemoryBudget(2.5 * BLOCK_BYTES);
    const big = await openRawClient({ memory });
    const small = await openRawClient({ memory });
    small.peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, Flags.FOLLOWS, bytesOf(1000)));
    big.peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, Flags.FOLLOWS, bytesOf(1200)));
    big.peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 3, Flags.FOLLOWS, bytesOf(1200), 1));
    await settle();
    expect(errorsIn(big.peer.frames).map((e) => [e.streamId, e.code, e.message.split(':')[0]])).toEqual([
      [1, 0x202, 'OVERLOADED'],
      [3, 0x202, 'OVERLOADED'],
    ]);
    expect(errorsIn(big.peer.frames)[0]!.message).toMatch(new RegExp(`gateway memory budget: .*the largest holder was this connection's unfinished fragmented payloads, ${2 * BLOCK_BYTES} bytes`));
    expect(errorsIn(small.peer.frames)).toEqual([]);
    expect(memory.usedBy('reassembly')).toBe(BLOCK_BYTES);
    // Both connections go on; the shed one can start again within the budget.
    big.peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 5, Flags.FOLLOWS, bytesOf(10)));
    big.peer.send(encodePayloadFrame(FrameType.PAYLOAD, 5, Flags.NEXT, bytesOf(10)));
    small.peer.send(encodePayloadFrame(FrameType.PAYLOAD, 1, Flags.NEXT, bytesOf(10)));
    await settle();
    expect(big.responder.served).toHaveLength(1);
    expect(small.responder.served).toHaveLength(1);
    expect([big.server.isOpen, small.server.isOpen]).toEqual([true, true]);
  });

  it('over the budget, the connection with the most unread outbound bytes is closed with SLOW_CONSUMER', async () => {
    const memory = new MemoryBudget(10_000);
    const reader = await openRawClient({ memory });
    const stalled = await openRawClient({ memory });
    reader.st.setBufferedBytes(2_000);
    reader.server.sendFrame(encodeKeepAlive(false, 0));
    stalled.st.setBufferedBytes(9_000);
    stalled.server.sendFrame(encodeKeepAlive(false, 0));
    await settle();
    expect(stalled.server.isOpen).toBe(false);
    expect(reader.server.isOpen).toBe(true);
    expect(stalled.st.destroyCalls).toBe(1);
    expect(memory.usedBy('outbound')).toBeLessThan(10_000);
  });
});

// --------------------------------------------------------------- stream ids

describe('stream ids', () => {
  it('a request on a stream id that is already open is a PROTOCOL_VIOLATION', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, p('a'), 1));
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, p('b')));
    await expectRefused(peer, server, { code: 0x101, message: 'PROTOCOL_VIOLATION: REQUEST_RESPONSE on stream 1, which is already open' });
    expect(responder.served[0]!.handler.events).toEqual(['error:UNAVAILABLE:connection c1 closed: PROTOCOL_VIOLATION: REQUEST_RESPONSE on stream 1, which is already open']);
  });

  it('a request on a stream id still being reassembled is a PROTOCOL_VIOLATION', async () => {
    const { server, peer } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, Flags.FOLLOWS, p('a'), 1));
    peer.send(encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, p('b'), 1));
    await expectRefused(peer, server, { code: 0x101, message: 'PROTOCOL_VIOLATION: REQUEST_STREAM on stream 1, which is already open' });
  });

  it('a request on a stream id of the wrong parity is a PROTOCOL_VIOLATION', async () => {
    const { server, peer } = await openRawClient();
    peer.send(encodePayloadFrame(FrameType.REQUEST_FNF, 2, 0, p('even from a client')));
    await expectRefused(peer, server, { code: 0x101, message: "PROTOCOL_VIOLATION: peer opened stream 2, an id of this side's parity" });
  });

  it('the client refuses odd ids from the server and serves even ones', async () => {
    const served = await rawServer();
    served.peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 2, 0, p('ok')));
    await settle();
    expect(served.responder.served.map((s) => s.data)).toEqual(['ok']);
    served.peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 3, 0, p('odd')));
    await settle();
    expect(errorsIn(served.peer.frames)).toEqual([{ streamId: 0, code: 0x101, message: "PROTOCOL_VIOLATION: peer opened stream 3, an id of this side's parity" }]);
    expect(served.client.isOpen).toBe(false);
  });

  it('frames for unknown or finished stream ids are ignored', async () => {
    const { server, peer, responder } = await openRawClient();
    peer.send(encodeRequestN(99, 5));
    peer.send(encodeCancel(99));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 99, Flags.NEXT, p('x')));
    peer.send(encodePayloadFrame(FrameType.PAYLOAD, 99, Flags.NEXT | Flags.FOLLOWS, p('x')));
    peer.send(encodeError(99, 0x201, 'INTERNAL: x'));
    peer.send(Uint8Array.from(Buffer.from('00000063fc0000000001', 'hex')));
    peer.send(encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, p('real')));
    await settle();
    expect(peer.frames).toEqual([]);
    expect(server.isOpen).toBe(true);
    expect(responder.served.map((s) => s.data)).toEqual(['real']);
    responder.served[0]!.stream.next(p('done'), true);
    peer.send(encodeRequestN(1, 5));
    peer.send(encodeCancel(1));
    await settle();
    expect(typesIn(peer.frames)).toEqual([`${FrameType.PAYLOAD}@1`]);
    expect(responder.served[0]!.handler.events).toEqual([]);
  });
});

// ------------------------------------------------------ outbound congestion

describe('outbound congestion', () => {
  const congestedLimits = { outboundHighWater: 1_024, outboundHardLimit: 4_096, slowConsumerTimeoutMs: 5_000 };

  async function streaming(limits: Partial<ConnectionLimits> = congestedLimits) {
    const ctx = await pair({ serverLimits: limits });
    const rec = recorder();
    ctx.client.requestStream(p('feed'), 1_000, rec);
    await settle();
    return { ...ctx, rec, s: ctx.responder.served[0]! };
  }

  it('reaching outboundHardLimit closes the connection with SLOW_CONSUMER at once', async () => {
    const { server, st, s } = await streaming();
    st.pause();
    for (let i = 0; i < 4; i++) s.stream.next(bytesOf(1_000));
    expect(st.bufferedBytes).toBe(4 * 1_006);
    expect([server.isOpen, server.writable]).toEqual([true, false]);
    s.stream.next(bytesOf(1_000));
    expect(server.isOpen).toBe(false);
    const last = decodeFrameSafe(st.sent.at(-1)!);
    expect(last).toEqual({ type: FrameType.ERROR, streamId: 0, flags: 0, code: 0x101, message: 'SLOW_CONSUMER: peer left 5030 bytes unread (limit 4096)' });
    expect(s.handler.events).toEqual(['error:UNAVAILABLE:connection c1 closed: SLOW_CONSUMER: peer left 5030 bytes unread (limit 4096)']);
    expect(() => s.stream.next(bytesOf(1))).toThrow('stream 1: send after completion');
    expect(st.closeCalls).toBe(1);
  });

  it('staying above outboundHighWater for slowConsumerTimeoutMs closes with SLOW_CONSUMER', async () => {
    vi.useFakeTimers();
    const { server, st, s } = await streaming();
    st.pause();
    s.stream.next(bytesOf(1_000));
    s.stream.next(bytesOf(1_000));
    expect(server.writable).toBe(false);
    await vi.advanceTimersByTimeAsync(4_999);
    // A drain event while still above the mark changes nothing.
    st.drain();
    expect(server.isOpen).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.isOpen).toBe(false);
    expect(decodeFrameSafe(st.sent.at(-1)!)).toMatchObject({ type: FrameType.ERROR, streamId: 0, code: 0x101, message: 'SLOW_CONSUMER: peer left 2012 bytes unread for over 5000 ms' });
  });

  it('draining below the high water mark in time cancels the slow-consumer timer', async () => {
    vi.useFakeTimers();
    const { server, st, s, rec } = await streaming();
    st.pause();
    s.stream.next(bytesOf(1_000));
    s.stream.next(bytesOf(1_000));
    await vi.advanceTimersByTimeAsync(4_000);
    st.resume();
    expect(server.writable).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.isOpen).toBe(true);
    expect(rec.events).toHaveLength(2);
  });

  it('bytes buffered below the high water mark never start the timer', async () => {
    vi.useFakeTimers();
    const { server, st, s } = await streaming();
    st.pause();
    s.stream.next(bytesOf(500));
    expect(server.writable).toBe(true);
    // (Keepalive answers held meanwhile add 14 bytes each, still below the mark.)
    await vi.advanceTimersByTimeAsync(30_000);
    expect(server.isOpen).toBe(true);
  });

  it('whenWritable waiters are woken on drain, in order, only once writable, each once', async () => {
    const { server, st, s } = await streaming();
    st.pause();
    s.stream.next(bytesOf(1_500));
    expect(server.writable).toBe(false);
    const woken: string[] = [];
    server.whenWritable(() => woken.push('a'));
    const cancelB = server.whenWritable(() => woken.push('b'));
    server.whenWritable(() => woken.push('c'));
    cancelB();
    st.drain();
    expect(woken).toEqual([]);
    st.resume();
    expect(woken).toEqual(['a', 'c']);
    st.drain();
    expect(woken).toEqual(['a', 'c']);
  });

  it('a waiter that fills the buffer again leaves the rest for the next drain', async () => {
    const { server, st, s } = await streaming();
    st.pause();
    s.stream.next(bytesOf(1_500));
    const woken: string[] = [];
    server.whenWritable(() => {
      woken.push('first');
      st.pause();
      s.stream.next(bytesOf(1_500));
    });
    server.whenWritable(() => woken.push('second'));
    st.resume();
    expect(woken).toEqual(['first']);
    expect(server.writable).toBe(false);
    st.resume();
    expect(woken).toEqual(['first', 'second']);
  });

  it('extra buffered bytes reported by the transport count too', async () => {
    const { server, st } = await streaming();
    st.setBufferedBytes(1_024);
    expect(server.writable).toBe(false);
    expect(server.bufferedBytes).toBe(1_024);
    st.setBufferedBytes(1_023);
    expect(server.writable).toBe(true);
  });

  it('waiters are released when the connection closes', async () => {
    const { server, st, s } = await streaming();
    st.pause();
    s.stream.next(bytesOf(1_500));
    const woken: string[] = [];
    server.whenWritable(() => woken.push('w'));
    server.close();
    expect(woken).toEqual(['w']);
  });
});

// -------------------------------------------------------------------- close

describe('close', () => {
  async function busy() {
    const ctx = await pair();
    const recs = { response: recorder(), stream: recorder(), channel: recorder() };
    ctx.client.requestResponse(p('r'), recs.response);
    ctx.client.requestStream(p('s'), 3, recs.stream);
    ctx.client.requestChannel(p('c'), 3, false, recs.channel);
    await settle();
    expect(ctx.responder.served).toHaveLength(3);
    return { ...ctx, recs };
  }

  it('close() ends every open stream on both sides with UNAVAILABLE', async () => {
    const { client, server, responder, recs } = await busy();
    const closed: Array<string | undefined> = [];
    client.onClose((e) => closed.push(e?.code));
    client.close();
    const local = 'error:UNAVAILABLE:connection k1 closed: CONNECTION_CLOSED: connection closed';
    expect([recs.response.events, recs.stream.events, recs.channel.events]).toEqual([[local], [local], [local]]);
    expect(closed).toEqual(['CONNECTION_CLOSED']);
    expect(client.activeStreams).toBe(0);
    await settle();
    expect(responder.served.map((s) => s.handler.events)).toEqual([['error:UNAVAILABLE:connection c1 closed'], ['error:UNAVAILABLE:connection c1 closed'], ['error:UNAVAILABLE:connection c1 closed']]);
    expect([server.isOpen, server.activeStreams]).toEqual([false, 0]);
  });

  it('close(error) sends the error on stream 0 first; the peer closes with that code', async () => {
    const { client, server, recs } = await busy();
    const peerClosed: Array<SluiceError | undefined> = [];
    client.onClose((e) => peerClosed.push(e));
    server.close(new SluiceError('CONNECTION_CLOSED', 'gateway shutting down'));
    await settle();
    expect(peerClosed.map((e) => [e?.code, e?.message])).toEqual([['CONNECTION_CLOSED', 'gateway shutting down']]);
    expect(recs.stream.events).toEqual(['error:UNAVAILABLE:connection k1 closed: CONNECTION_CLOSED: gateway shutting down']);
    expect(client.isOpen).toBe(false);
  });

  it('the transport going away ends the streams with UNAVAILABLE naming the cause', async () => {
    const { client, server, ct, responder, recs } = await busy();
    ct.disconnect(new Error('ECONNRESET'));
    await settle();
    expect(recs.channel.events).toEqual(['error:UNAVAILABLE:connection k1 closed: ECONNRESET']);
    expect(responder.served[2]!.handler.events).toEqual(['error:UNAVAILABLE:connection c1 closed: ECONNRESET']);
    expect([client.isOpen, server.isOpen]).toEqual([false, false]);
  });

  it('after close, the requester API throws UNAVAILABLE and sends nothing', async () => {
    const { client, ct } = await pair();
    client.close();
    const sent = ct.sent.length;
    expect(() => client.requestResponse(p('x'), recorder())).toThrow(new SluiceError('UNAVAILABLE', 'connection k1 is closed'));
    expect(() => client.fireAndForget(p('x'))).toThrow('connection k1 is closed');
    expect(() => client.metadataPush(u8('x'))).toThrow('connection k1 is closed');
    client.close(new SluiceError('INTERNAL', 'twice'));
    expect(ct.sent.length).toBe(sent);
  });

  it('onClose after the close reports at once; listeners can be removed', async () => {
    const { client, server } = await pair();
    const seen: string[] = [];
    const off = server.onClose(() => seen.push('removed'));
    off();
    client.close();
    await settle();
    expect(seen).toEqual([]);
    server.onClose((e) => seen.push(`late:${e?.code}`));
    expect(seen).toEqual(['late:UNAVAILABLE']);
  });
});
