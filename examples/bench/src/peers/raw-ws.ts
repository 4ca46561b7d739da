/**
 * The transport-limit baseline: the same JSON items as bench.source, over
 * plain `ws` with no RSocket (no frames, no demand, no stream ids).
 *
 * - `startRawSource`: a client sends `{"streams","count","size"}`; the server
 *   sends `streams * count` binary messages, streams interleaved, as fast as
 *   the socket absorbs them: it writes while less than `HIGH_WATER` bytes are
 *   unflushed (the gateway's default high water mark), corked so each burst
 *   leaves in one writev like Sluice's transports, and waits for `drain`
 *   otherwise.
 * - `startRawRelay`: a pass-through hop (client -> relay -> source) with the
 *   same write rules and backpressure (it stops reading upstream while the
 *   client is congested), so "one hop" compares like for like with the gateway.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** Unflushed bytes above which a sender waits for drain (Sluice's default outboundHighWater). */
export const HIGH_WATER = 1024 * 1024;
/** Messages per synchronous burst before yielding to the event loop. */
const BURST = 512;

export interface Peer {
  readonly url: string;
  close(): Promise<void>;
}

/** The same bytes as a bench.source item `{seq, requested, pad}` of about `size` bytes. */
export function rawItem(seq: number, pad: string): Buffer {
  return Buffer.from(`{"seq":${seq},"requested":${seq + 1},"pad":"${pad}"}`);
}

export function padFor(size: number): string {
  return 'x'.repeat(Math.max(0, size - '{"seq":0,"requested":0,"pad":""}'.length - 8));
}

export async function startRawSource(port = 0): Promise<Peer> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    const socket = req.socket;
    ws.on('message', (data) => {
      const { streams, count, size } = JSON.parse(String(data)) as { streams: number; count: number; size: number };
      const pad = padFor(size);
      const total = streams * count;
      let sent = 0;
      const pump = (): void => {
        if (ws.readyState !== ws.OPEN) return;
        socket.cork();
        let burst = 0;
        while (sent < total && burst < BURST && ws.bufferedAmount < HIGH_WATER) {
          ws.send(rawItem(Math.floor(sent / streams), pad), { binary: true });
          sent++;
          burst++;
        }
        socket.uncork();
        if (sent >= total) return;
        if (ws.bufferedAmount >= HIGH_WATER) socket.once('drain', pump);
        else setImmediate(pump);
      };
      pump();
    });
    ws.on('error', () => {});
  });
  return listen(http, port, () => wss.close());
}

export async function startRawRelay(upstreamUrl: string, port = 0): Promise<Peer> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (down, req) => {
    const downSocket = req.socket;
    const up = new WebSocket(upstreamUrl, { perMessageDeflate: false });
    let upSocket: Socket | undefined;
    up.once('upgrade', (res) => (upSocket = res.socket as Socket));
    const early: RawData[] = [];
    up.once('open', () => {
      for (const m of early) up.send(m, { binary: true });
      early.length = 0;
    });
    down.on('message', (m) => (up.readyState === up.OPEN ? up.send(m, { binary: true }) : early.push(m)));
    let corked = false;
    up.on('message', (m) => {
      if (!corked) {
        // One writev per tick, as in Sluice's WebSocket transport.
        corked = true;
        downSocket.cork();
        process.nextTick(() => {
          corked = false;
          downSocket.uncork();
        });
      }
      down.send(m, { binary: true });
      if (down.bufferedAmount >= HIGH_WATER && upSocket && !upSocket.isPaused()) {
        // Backpressure: stop reading from the source until the client drains.
        upSocket.pause();
        downSocket.once('drain', () => upSocket?.resume());
      }
    });
    const closeBoth = () => {
      up.terminate();
      down.terminate();
    };
    up.on('close', closeBoth);
    down.on('close', closeBoth);
    up.on('error', closeBoth);
    down.on('error', closeBoth);
  });
  return listen(http, port, () => wss.close());
}

/** Consumes one raw stream request on `url`: resolves with messages per second once all arrived. */
export async function measureRaw(url: string, o: { streams: number; count: number; size: number }, timeoutMs = 120_000): Promise<number> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const total = o.streams * o.count;
  try {
    return await new Promise<number>((resolve, reject) => {
      let received = 0;
      const timer = setTimeout(() => reject(new Error(`raw ws: ${received} of ${total} messages within ${timeoutMs} ms`)), timeoutMs);
      const start = performance.now();
      ws.on('message', () => {
        if (++received === total) {
          clearTimeout(timer);
          resolve(total / ((performance.now() - start) / 1000));
        }
      });
      ws.once('close', () => reject(new Error(`raw ws closed after ${received} of ${total} messages`)));
      ws.send(JSON.stringify(o));
    });
  } finally {
    ws.terminate();
  }
}

function listen(http: Server, port: number, closeWss: () => void): Promise<Peer> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => {
      resolve({
        url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
        close: () =>
          new Promise<void>((done) => {
            closeWss();
            http.closeAllConnections();
            http.close(() => done());
          }),
      });
    });
  });
}
