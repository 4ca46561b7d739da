/** Node transports: `ws://` / `wss://` with the `ws` package, `tcp://host:port` with node:net. */
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { SluiceError } from '../../src/errors.js';
import { TcpTransport } from '../../src/transport/tcp-transport.js';
import { WebSocketTransport } from '../../src/transport/websocket-transport.js';
import type { FrameTransport } from '../../src/rsocket/transport.js';

/** Largest frame a Node client accepts, in bytes (the gateway's default maxFrameSize). */
export const CLIENT_MAX_FRAME = 2 * 1024 * 1024;

export function nodeTransport(url: string): Promise<FrameTransport> {
  const parsed = new URL(url);
  if (parsed.protocol === 'tcp:') return openTcp(parsed.hostname, Number(parsed.port));
  if (parsed.protocol === 'ws:' || parsed.protocol === 'wss:') return openWebSocket(url);
  return Promise.reject(new SluiceError('INVALID_ARGUMENT', `unsupported URL scheme '${parsed.protocol}' (use ws://, wss:// or tcp://)`));
}

function openWebSocket(url: string): Promise<FrameTransport> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: CLIENT_MAX_FRAME });
    let socket: Duplex | undefined;
    const onError = (err: Error) => reject(new SluiceError('UNAVAILABLE', `cannot open ${url}: ${err.message}`, { cause: err }));
    ws.once('error', onError);
    ws.once('upgrade', (res) => (socket = res.socket));
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(new WebSocketTransport(ws, socket!, url));
    });
  });
}

function openTcp(host: string, port: number): Promise<FrameTransport> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: host.replace(/^\[|\]$/g, ''), port });
    const onError = (err: Error) => reject(new SluiceError('UNAVAILABLE', `cannot open tcp://${host}:${port}: ${err.message}`, { cause: err }));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new TcpTransport(socket, CLIENT_MAX_FRAME));
    });
  });
}
