/**
 * The Node client's own WebSocket framing (the transport of `connect` and of
 * services for ws:// URLs), against a raw server on a real socket that does
 * the handshake by hand and writes frames byte for byte: messages cut into
 * fragments and written a byte at a time arrive whole and in order; pings
 * get masked pongs; everything the client writes is masked; a server's close
 * frame is echoed; and a masked frame or a text message from the server fails
 * the connection with the RFC 6455 close code. And on either end (one
 * transport serves both), a socket that fails before the transport starts
 * reports its close when it does.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { wsFrame } from '../helpers/ws-frames.js';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeTransport } from '../../src/transport/client-transport.js';
import { ClientWebSocketTransport, ServerWebSocketTransport } from '../../src/transport/ws-socket-transport.js';
import type { FrameTransport, TransportHandler } from '../../src/rsocket/transport.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A server frame (unmasked unless asked). */
const frame = (opcode: number, payload: Uint8Array, options: Parameters<typeof wsFrame>[2] = {}) => wsFrame(opcode, payload, { masked: false, ...options });

interface ClientFrame {
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** A raw WebSocket server: accepts one upgrade, then parses the client's frames (unmasking them). */
async function rawServer() {
  const server: Server = createServer();
  const frames: ClientFrame[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  let peer: Socket | undefined;
  let ended = false;
  server.on('upgrade', (req, socket: Socket) => {
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    peer = socket;
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (buffered.length < 2) break;
        const masked = (buffered[1]! & 0x80) !== 0;
        const len7 = buffered[1]! & 0x7f;
        const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
        const head = 2 + ext + (masked ? 4 : 0);
        if (buffered.length < head) break;
        const n = ext === 2 ? buffered.readUInt16BE(2) : ext === 8 ? buffered.readUInt32BE(6) : len7;
        if (buffered.length < head + n) break;
        const payload = Buffer.from(buffered.subarray(head, head + n));
        if (masked) for (let i = 0; i < n; i++) payload[i] = payload[i]! ^ buffered[2 + ext + (i & 3)]!;
        frames.push({ opcode: buffered[0]! & 0x0f, masked, payload });
        buffered = buffered.subarray(head + n);
      }
      wake();
    });
    socket.on('end', () => {
      ended = true;
      socket.end();
      wake();
    });
    socket.on('error', () => {});
    wake();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const until = async (ok: () => boolean) => {
    while (!ok()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return {
    url: `ws://127.0.0.1:${port}`,
    frames,
    get ended() {
      return ended;
    },
    until,
    /** Writes `bytes` to the client, `step` bytes per write (a write per tick so they arrive as separate chunks). */
    async write(bytes: Buffer, step = bytes.length) {
      await until(() => peer !== undefined);
      for (let o = 0; o < bytes.length; o += step) {
        peer!.write(bytes.subarray(o, o + step));
        if (step < bytes.length) await new Promise((resolve) => setImmediate(resolve));
      }
    },
    close: () => new Promise<void>((resolve) => {
      peer?.destroy();
      server.close(() => resolve());
    }),
  };
}

/** What the transport hands its connection. */
function recorder() {
  const seen = { frames: [] as number[][], invalid: [] as string[], closed: false, error: undefined as Error | undefined };
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const handler: TransportHandler = {
    onFrame: (f) => {
      seen.frames.push([...f]);
      wake();
    },
    onInvalid: (reason) => {
      seen.invalid.push(reason);
      wake();
    },
    onDrain: () => {},
    onClose: (err) => {
      seen.closed = true;
      seen.error = err;
      wake();
    },
  };
  const until = async (ok: () => boolean) => {
    while (!ok()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { seen, handler, until };
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function open() {
  const server = await rawServer();
  cleanup.push(server.close);
  const transport: FrameTransport = await nodeTransport(server.url);
  cleanup.push(() => transport.destroy());
  const rec = recorder();
  transport.start(rec.handler);
  return { server, transport, ...rec };
}

describe('the Node client reading and writing WebSocket frames itself', () => {
  it('reads fragmented messages written a byte at a time, answers pings with masked pongs, and masks what it sends', async () => {
    const { server, transport, seen, until } = await open();
    const big = randomBytes(70_000);
    const wire = Buffer.concat([
      frame(0x2, Uint8Array.of(1, 2, 3)),
      frame(0x2, Uint8Array.of(4), { fin: false }),
      frame(0x9, Uint8Array.of(7, 7)),
      frame(0x0, Uint8Array.of(5, 6)),
      frame(0x2, big),
      frame(0x2, new Uint8Array(0)),
    ]);
    await server.write(wire.subarray(0, 40), 1);
    await server.write(wire.subarray(40));
    await until(() => seen.frames.length === 4);
    expect(seen.frames.slice(0, 2)).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(Buffer.from(seen.frames[2]!).equals(big)).toBe(true);
    expect(seen.frames[3]).toEqual([]);

    transport.send(Uint8Array.of(9, 8, 7));
    transport.send(new Uint8Array(300).fill(3));
    await server.until(() => server.frames.length === 3);
    expect(server.frames.map((f) => f.masked)).toEqual([true, true, true]);
    expect(server.frames[0]).toMatchObject({ opcode: 0xa, payload: Buffer.from([7, 7]) });
    expect(server.frames[1]).toMatchObject({ opcode: 0x2, payload: Buffer.from([9, 8, 7]) });
    expect(server.frames[2]!.payload.equals(Buffer.alloc(300, 3))).toBe(true);
    expect(seen.closed).toBe(false);
  });

  it("echoes the server's close frame (masked) and closes without an error", async () => {
    const { server, seen, until } = await open();
    await server.write(frame(0x8, Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65])));
    await server.until(() => server.frames.some((f) => f.opcode === 0x8));
    const close = server.frames.find((f) => f.opcode === 0x8)!;
    expect(close.masked).toBe(true);
    expect(close.payload.readUInt16BE(0)).toBe(4000);
    await until(() => seen.closed);
    expect(seen.error).toBeUndefined();
  });

  it('sends its own close frame (1000) on close, after what it sent before', async () => {
    const { server, transport } = await open();
    transport.send(Uint8Array.of(1));
    transport.close();
    await server.until(() => server.frames.length === 2);
    expect(server.frames[0]).toMatchObject({ opcode: 0x2, masked: true, payload: Buffer.from([1]) });
    expect(server.frames[1]!.opcode).toBe(0x8);
    expect(server.frames[1]!.masked).toBe(true);
    expect(server.frames[1]!.payload.readUInt16BE(0)).toBe(1000);
  });

  it('a masked frame from the server fails the connection with close 1002; nothing after it is read', async () => {
    const { server, seen, until } = await open();
    await server.write(Buffer.concat([frame(0x2, Uint8Array.of(1)), frame(0x2, Uint8Array.of(2), { masked: true }), frame(0x2, Uint8Array.of(3))]));
    await until(() => seen.closed);
    expect(seen.error?.message).toMatch(/close 1002.*masked frame from a server/);
    expect(seen.frames).toEqual([[1]]);
    await server.until(() => server.frames.some((f) => f.opcode === 0x8));
    const close = server.frames.find((f) => f.opcode === 0x8)!;
    expect(close.masked).toBe(true);
    expect(close.payload.readUInt16BE(0)).toBe(1002);
  });

  it('a text message from the server is refused as invalid and the client closes with 1003', async () => {
    const { server, seen, until } = await open();
    await server.write(frame(0x1, Buffer.from('{}')));
    await until(() => seen.invalid.length === 1);
    expect(seen.invalid[0]).toMatch(/text WebSocket message/);
    await server.until(() => server.frames.some((f) => f.opcode === 0x8));
    expect(server.frames.find((f) => f.opcode === 0x8)!.payload.readUInt16BE(0)).toBe(1003);
  });

  it('a message over the client frame limit fails the connection with close 1009 before it is buffered', async () => {
    const { server, seen, until } = await open();
    const header = Buffer.from([0x82, 127, 0, 0, 0, 0, 0x7f, 0, 0, 0]);
    await server.write(header);
    await until(() => seen.closed);
    expect(seen.error?.message).toMatch(/close 1009/);
  });
});

describe('a socket that fails between the handshake and start()', () => {
  it.each(['server', 'client'] as const)('the %s end reports the close to its handler when it starts, with the error', async (end) => {
    const tcp = createTcpServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    try {
      const socket = connect((tcp.address() as { port: number }).port, '127.0.0.1');
      await once(socket, 'connect');
      const Transport = end === 'server' ? ServerWebSocketTransport : ClientWebSocketTransport;
      const transport = new Transport(socket, Buffer.alloc(0), 'test', 1024);
      const gone = new Promise((r) => socket.once('close', r));
      socket.destroy(new Error('reset before start'));
      await gone;
      const closes: (Error | undefined)[] = [];
      transport.start({ onFrame: () => {}, onInvalid: () => {}, onDrain: () => {}, onClose: (err?: Error) => closes.push(err) });
      expect(closes.map((e) => e?.message)).toEqual(['reset before start']);
    } finally {
      tcp.close();
    }
  });
});
