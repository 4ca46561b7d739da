/**
 * The gateway's own WebSocket framing, from a raw TCP client that does the
 * handshake and writes frames byte for byte: RSocket works over messages cut
 * into fragments and written a byte at a time; pings are answered; the
 * closing handshake is echoed; and each protocol violation gets its RFC 6455
 * close code on that connection alone while another connection's stream
 * keeps flowing.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodePayloadFrame, encodeSetup } from '../../src/protocol/codec.js';
import { FrameType, type ErrorFrame, type PayloadFrame } from '../../src/protocol/frames.js';
import { MimeTypes } from '../../src/protocol/metadata.js';
import { decodeJson } from '../../src/protocol/json.js';
import { jsonPayload, recorder, useHarness } from '../helpers/harness.js';
import { wsFrame } from '../helpers/ws-frames.js';

const h = useHarness();

const SETUP = encodeSetup({ keepAlive: 20_000, lifetime: 90_000, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON });


interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** A raw WebSocket client: the handshake by hand, then the server's (unmasked) frames as they come. */
async function rawClient(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  const frames: ServerFrame[] = [];
  let buffered = Buffer.alloc(0);
  let upgraded = false;
  let ended = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (!upgraded) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      expect(buffered.subarray(0, end).toString()).toMatch(/^HTTP\/1\.1 101 /);
      buffered = buffered.subarray(end + 4);
      upgraded = true;
    }
    for (;;) {
      if (buffered.length < 2) break;
      const len7 = buffered[1]! & 0x7f;
      const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      if (buffered.length < 2 + ext) break;
      const n = ext === 2 ? buffered.readUInt16BE(2) : ext === 8 ? buffered.readUInt32BE(6) : len7;
      if (buffered.length < 2 + ext + n) break;
      frames.push({ opcode: buffered[0]! & 0x0f, payload: Buffer.from(buffered.subarray(2 + ext, 2 + ext + n)) });
      buffered = buffered.subarray(2 + ext + n);
    }
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  const until = (cond: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (cond()) resolve();
        else if (ended) reject(new Error(`socket ended first; frames: ${JSON.stringify(frames.map((f) => f.opcode))}`));
        else waiters.push(check);
      };
      check();
    });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve) => {
    const check = () => (upgraded ? resolve() : waiters.push(check));
    check();
  });
  return {
    socket,
    frames,
    until,
    /** Resolves with the close frame's code once the server closed the TCP connection. */
    async closedWith(): Promise<number | undefined> {
      await new Promise<void>((resolve) => (ended ? resolve() : socket.once('close', () => resolve())));
      const close = frames.find((f) => f.opcode === 0x8);
      return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
    },
    /** The RSocket frames in the server's binary messages. */
    rsocket: () => frames.filter((f) => f.opcode === 0x2).map((f) => decodeFrame(new Uint8Array(f.payload))),
  };
}

/** A stream that must keep flowing while another connection misbehaves. */
async function bystander(url: string) {
  const conn = await h.raw(url);
  const rec = recorder();
  const stream = conn.requestStream(jsonPayload('bench.source', {}), 1, rec.handler);
  await rec.received(1);
  return async () => {
    const n = rec.items.length;
    stream.request(3);
    await rec.received(n + 3);
    return true;
  };
}

describe('the gateway reads WebSocket frames itself', () => {
  it('RSocket over messages cut into fragments and written one byte at a time; a ping between fragments is answered', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    const c = await rawClient(gw.url);
    const request = encodePayloadFrame(FrameType.REQUEST_RESPONSE, 1, 0, jsonPayload('bench.echo', { hello: 'fragments' }));
    const cut = Math.floor(request.length / 2);
    const bytes = Buffer.concat([
      wsFrame(0x2, SETUP),
      wsFrame(0x2, request.subarray(0, cut), { fin: false }),
      wsFrame(0x9, Buffer.from('are you there')),
      wsFrame(0x0, request.subarray(cut)),
    ]);
    for (const b of bytes) c.socket.write(Buffer.of(b));
    await c.until(() => c.rsocket().some((f) => f.type === FrameType.PAYLOAD));
    const answer = c.rsocket().find((f) => f.type === FrameType.PAYLOAD) as PayloadFrame;
    expect(answer.streamId).toBe(1);
    expect(decodeJson(answer.data)).toEqual({ hello: 'fragments' });
    expect(c.frames.filter((f) => f.opcode === 0xa).map((f) => f.payload.toString())).toEqual(['are you there']);
    // The closing handshake: the server echoes the code and ends the connection.
    c.socket.write(wsFrame(0x8, Buffer.from([0x03, 0xe8, ...Buffer.from('done')])));
    expect(await c.closedWith()).toBe(1000);
  });

  it('a text message gets ERROR[MALFORMED_FRAME] and close code 1003', async () => {
    const gw = await h.gateway();
    const c = await rawClient(gw.url);
    c.socket.write(Buffer.concat([wsFrame(0x2, SETUP), wsFrame(0x1, Buffer.from('{"hello":"json"}'))]));
    expect(await c.closedWith()).toBe(1003);
    expect((c.rsocket()[0] as ErrorFrame).message).toMatch(/^MALFORMED_FRAME: text WebSocket message/);
  });

  const violations: [string, (maxFrame: number) => Buffer, number][] = [
    ['an unmasked frame', () => wsFrame(0x2, Buffer.from('x'), { masked: false }), 1002],
    ['RSV1 set with no extension', () => wsFrame(0x2, Buffer.from('x'), { rsv: 4 }), 1002],
    ['a reserved opcode', () => wsFrame(0x5, Buffer.from('x')), 1002],
    ['a fragmented ping', () => wsFrame(0x9, Buffer.from('x'), { fin: false }), 1002],
    ['a ping of 126 bytes', () => wsFrame(0x9, Buffer.alloc(126)), 1002],
    ['a continuation with no message', () => wsFrame(0x0, Buffer.from('x')), 1002],
    ['a close reason that is not UTF-8', () => wsFrame(0x8, Buffer.of(0x03, 0xe8, 0xc3, 0x28)), 1007],
    ['a message over limits.maxFrameSize', (max) => wsFrame(0x2, Buffer.alloc(max + 1)), 1009],
    ['a message over limits.maxFrameSize in fragments', (max) => Buffer.concat([wsFrame(0x2, Buffer.alloc(max - 10), { fin: false }), wsFrame(0x0, Buffer.alloc(20))]), 1009],
  ];

  it.each(violations)('%s: close code %s for that connection only; others keep streaming', async (_name, make, code) => {
    const maxFrameSize = 4096;
    const gw = await h.gateway({ limits: { maxFrameSize, maxPayloadSize: 2048 } });
    await h.service({ url: gw.url, service: 'bench' });
    const stillFlowing = await bystander(gw.url);
    const c = await rawClient(gw.url);
    c.socket.write(Buffer.concat([wsFrame(0x2, SETUP), make(maxFrameSize)]));
    expect(await c.closedWith()).toBe(code);
    // Failing the WebSocket connection sends no RSocket frame after the close.
    expect(c.frames.at(-1)!.opcode).toBe(0x8);
    expect(await stillFlowing()).toBe(true);
  });
});
