/**
 * Bad input ends only the offender: garbage bytes, text messages, missing
 * SETUP, protocol violations, over-sent channels and oversize payloads each get
 * a precise error while other connections and streams keep working.
 */
import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeFrame, encodePayloadFrame, encodeSetup } from '../../src/protocol/codec.js';
import { Flags, FrameType, type ErrorFrame } from '../../src/protocol/frames.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { SluiceError } from '../../src/errors.js';
import { FrameSplitter } from '../../src/transport/length-framing.js';
import { jsonPayload, recorder, useHarness } from '../helpers/harness.js';

const h = useHarness();

const setupFrame = () => encodeSetup({ keepAlive: 20_000, lifetime: 90_000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON });

/** A raw WebSocket that collects decoded frames and reports its close. */
function rawSocket(url: string) {
  const ws = new WebSocket(url);
  const frames: ErrorFrame[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('message', (data: Buffer) => frames.push(decodeFrame(new Uint8Array(data)) as ErrorFrame));
  return { ws, frames, closed, opened };
}

/** A stream that must keep flowing while another connection misbehaves. */
async function bystander(url: string) {
  const conn = await h.raw(url);
  const rec = recorder();
  const stream = conn.requestStream(jsonPayload('bench.source', {}), 1, rec.handler);
  await rec.received(1);
  return {
    async stillFlowing() {
      const n = rec.items.length;
      stream.request(3);
      await rec.received(n + 3);
      return true;
    },
  };
}

describe('bad input on one connection', () => {
  it('garbage binary bytes: ERROR[MALFORMED_FRAME] on stream 0, that connection closed, others untouched', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const other = await bystander(gw.url);
    const bad = rawSocket(gw.url);
    await bad.opened;
    bad.ws.send(Buffer.from('this is not an rsocket frame at all'));
    await bad.closed;
    expect(bad.frames).toHaveLength(1);
    expect(bad.frames[0]!.type).toBe(FrameType.ERROR);
    expect(bad.frames[0]!.streamId).toBe(0);
    expect(bad.frames[0]!.message).toMatch(/^(INVALID_SETUP|MALFORMED_FRAME): /);
    expect(await other.stillFlowing()).toBe(true);
  });

  it('garbage after a valid SETUP: MALFORMED_FRAME names the problem', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const other = await bystander(gw.url);
    const bad = rawSocket(gw.url);
    await bad.opened;
    bad.ws.send(setupFrame());
    bad.ws.send(Buffer.from([0, 0, 0, 1, 0xfc, 0, 1, 2, 3]));
    await bad.closed;
    const err = SluiceError.fromWire(bad.frames[0]!.code, bad.frames[0]!.message);
    expect(err.code).toBe('MALFORMED_FRAME');
    expect(err.message).toBe('truncated frame: extended type needs 4 bytes, 3 left');
    expect(await other.stillFlowing()).toBe(true);
  });

  it('a text WebSocket message is refused with MALFORMED_FRAME', async () => {
    const gw = await h.gateway();
    const bad = rawSocket(gw.url);
    await bad.opened;
    bad.ws.send(setupFrame());
    bad.ws.send('{"hello":"json"}');
    await bad.closed;
    expect(bad.frames[0]!.message).toMatch(/^MALFORMED_FRAME: text WebSocket message/);
  });

  it('a connection that never sends SETUP is closed with INVALID_SETUP after the setup timeout', async () => {
    const gw = await h.gateway({ limits: { setupTimeoutMs: 200 } });
    const idle = rawSocket(gw.url);
    await idle.opened;
    await idle.closed;
    expect(idle.frames[0]!.message).toMatch(/^INVALID_SETUP: no SETUP frame within 200 ms/);
  });

  it('SETUP with another metadata MIME type, a data MIME type that is not type/subtype, or lease is refused with UNSUPPORTED_SETUP', async () => {
    const gw = await h.gateway();
    const a = rawSocket(gw.url);
    await a.opened;
    a.ws.send(encodeSetup({ keepAlive: 1000, lifetime: 5000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: 'cbor' }));
    await a.closed;
    expect(a.frames[0]!.message).toContain("UNSUPPORTED_SETUP: data MIME type must be a printable US-ASCII type/subtype of at most 128 bytes, got 'cbor'");
    const m = rawSocket(gw.url);
    await m.opened;
    m.ws.send(encodeSetup({ keepAlive: 1000, lifetime: 5000, metadataMimeType: 'application/json', dataMimeType: MimeTypes.JSON }));
    await m.closed;
    expect(m.frames[0]!.message).toContain('UNSUPPORTED_SETUP: metadata MIME type must be message/x.rsocket.composite-metadata.v0');
    const b = rawSocket(gw.url);
    await b.opened;
    b.ws.send(encodeSetup({ keepAlive: 1000, lifetime: 5000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON, flags: Flags.LEASE }));
    await b.closed;
    expect(b.frames[0]!.message).toBe('UNSUPPORTED_SETUP: lease is not supported');
  });

  it('opening a stream id that is already open is a PROTOCOL_VIOLATION for that connection only', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const other = await bystander(gw.url);
    const bad = rawSocket(gw.url);
    await bad.opened;
    bad.ws.send(setupFrame());
    const req = encodePayloadFrame(FrameType.REQUEST_STREAM, 1, 0, jsonPayload('bench.source', {}), 1);
    bad.ws.send(req);
    bad.ws.send(req);
    await bad.closed;
    const last = bad.frames.at(-1)!;
    expect(last.streamId).toBe(0);
    expect(last.message).toMatch(/^PROTOCOL_VIOLATION: REQUEST_STREAM on stream 1, which is already open/);
    expect(await other.stillFlowing()).toBe(true);
  });

  it('garbage on the TCP port: ERROR frame then close; other connections untouched', async () => {
    const gw = await h.gateway({ listen: { tcpPort: 0 } });
    await h.service({ url: gw.url, service: 'bench' });
    const other = await bystander(gw.url);
    const socket = tcpConnect({ host: '127.0.0.1', port: gw.tcp!.port });
    const splitter = new FrameSplitter(1 << 20);
    const frames: ErrorFrame[] = [];
    socket.on('data', (chunk) => {
      const out = splitter.push(new Uint8Array(chunk));
      if (Array.isArray(out)) frames.push(...out.map((f) => decodeFrame(f) as ErrorFrame));
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(frames[0]!.message).toMatch(/^MALFORMED_FRAME: frame length \d+ is over the \d+-byte limit/);
    expect(await other.stillFlowing()).toBe(true);
  });

  it('RSocket over TCP works end to end', async () => {
    const gw = await h.gateway({ listen: { tcpPort: 0 } });
    await h.service({ url: `tcp://127.0.0.1:${gw.tcp!.port}`, service: 'bench' });
    const client = await h.client(`tcp://127.0.0.1:${gw.tcp!.port}`);
    expect(await client.requestResponse('bench.echo', { over: 'tcp' })).toEqual({ over: 'tcp' });
    // And a WebSocket client reaches the TCP-connected service.
    const wsClient = await h.client(gw.url);
    expect(await wsClient.requestResponse('bench.echo', 7)).toBe(7);
  });
});

describe('demand and size violations end one stream', () => {
  it('a requester that sends more channel payloads than granted gets DEMAND_EXCEEDED; the excess is not forwarded', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const conn = await h.raw(gw.url);
    const rec = recorder();
    // bench.sink requests one item at a time, only after finishing the previous one (200 ms each).
    const channel = conn.requestChannel(jsonPayload('bench.sink', { delayMs: 200 }), 10, false, rec.handler);
    await new Promise<void>((resolve) => {
      const poll = () => (rec.requested.length > 0 ? resolve() : setImmediate(poll));
      poll();
    });
    expect(rec.requested).toEqual([1]);
    // Bypass the client-side demand check: write three PAYLOAD frames for one grant.
    for (let i = 0; i < 3; i++) channel.host.sendFrame(encodePayloadFrame(FrameType.PAYLOAD, channel.id, Flags.NEXT, { data: new TextEncoder().encode(`{"i":${i}}`), metadata: null }));
    const end = await rec.ended;
    expect(end.error).toBeInstanceOf(SluiceError);
    expect(end.error.code).toBe('DEMAND_EXCEEDED');
    expect(end.error.wireCode).toBe(0x204);
    // The connection itself is fine.
    const echo = recorder();
    conn.requestResponse(jsonPayload('bench.echo', 'still here'), echo.handler);
    await echo.received(1);
  });

  it('an oversize payload ends its stream with PAYLOAD_TOO_LARGE and the connection goes on', async () => {
    const gw = await h.gateway({ limits: { maxPayloadSize: 4096 } });
    await h.service({ url: gw.url, service: 'bench' });
    const client = await h.client(gw.url);
    const err = await client.requestResponse('bench.echo', { blob: 'x'.repeat(10_000) }).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((err as SluiceError).message).toMatch(/over the 4096-byte limit/);
    expect(await client.requestResponse('bench.echo', 'small')).toBe('small');
  });

  it('a service that answers with an oversize item fails that stream only', async () => {
    const gw = await h.gateway({ limits: { maxPayloadSize: 4096 } });
    await h.service({ url: gw.url, service: 'bench' });
    const client = await h.client(gw.url);
    const items: unknown[] = [];
    const err = await new Promise<unknown>((resolve) =>
      client.requestStream('bench.source', { size: 8000, count: 3 }).subscribe({ next: (i) => items.push(i), error: resolve, complete: () => resolve(undefined) }),
    );
    expect((err as SluiceError).code).toBe('PAYLOAD_TOO_LARGE');
    expect(items).toHaveLength(0);
    expect(await client.requestResponse('bench.echo', 'ok')).toBe('ok');
  });
});
