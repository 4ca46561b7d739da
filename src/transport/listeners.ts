/**
 * The gateway's RSocket listeners: WebSocket (wss:// with TLS) and TCP
 * (tls:// with TLS). They turn accepted sockets into FrameTransports and hand
 * them to `serve` (the broker's accept), after the checks that belong to the
 * socket: the connection caps (refused before any handshake work), the
 * per-address cap, the browser Origin, and handshake timeouts. Node only.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from '../observability/log.js';
import type { FrameTransport } from '../rsocket/transport.js';
import type { AddressLimiter } from './address-limiter.js';
import type { OriginPolicy } from './origin.js';
import { TcpTransport } from './tcp-transport.js';
import type { TlsCredentials } from './tls.js';
import { HandshakeOnlyWebSocket, ServerWebSocketTransport } from './ws-socket-transport.js';

export interface ListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest frame a peer may send, in bytes (limits.maxFrameSize). */
  maxFrameSize: number;
  /** How long a socket may take for its TLS handshake and upgrade request, in ms (limits.setupTimeoutMs). */
  handshakeTimeoutMs: number;
  tls: TlsCredentials | undefined;
  /** Counts the sockets of each address. */
  perAddress: AddressLimiter;
  /** Why a new socket from `remote` is refused, if it is (the caller counts and logs it). */
  refusal(remote: string | undefined): string | undefined;
  log: Logger;
  /** The broker's accept. */
  serve(transport: FrameTransport): void;
}

/** Plain HTTP on the WebSocket port (the HTTP bridge): true when it answered the request. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface Listener {
  readonly port: number;
  /** Stops accepting; open connections go on. */
  stop(): void;
  /** Ends every socket still open (after the broker has closed its connections). */
  destroyAll(): void;
  /** New TLS handshakes use these credentials (certificate rotation); no-op without TLS. */
  setTlsCredentials(tls: TlsCredentials): void;
}

/** RSocket over WebSocket. `origins()` is read per upgrade: the admin server's origin joins once it listens. */
export async function listenWebSocket(
  options: ListenerOptions,
  origins: () => OriginPolicy,
  refuseOrigin: (remote: string | undefined, origin: string | undefined) => void,
  http?: HttpHandler,
): Promise<Listener> {
  const { log, tls, handshakeTimeoutMs } = options;
  // `ws` answers the handshake and hands the socket over (HandshakeOnlyWebSocket); reading and writing it are ServerWebSocketTransport's.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameSize, perMessageDeflate: false, clientTracking: false, WebSocket: HandshakeOnlyWebSocket });
  const upgradeRequired = (req: IncomingMessage, res: ServerResponse): void => {
    if (http?.(req, res)) return;
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('RSocket over WebSocket: upgrade required\n');
  };
  // Sockets that never finish the handshake or the upgrade request free their slot as a silent SETUP would.
  const handshakeLimits = { headersTimeout: handshakeTimeoutMs, requestTimeout: handshakeTimeoutMs, connectionsCheckingInterval: Math.min(1_000, handshakeTimeoutMs) };
  const server: HttpServer = tls
    ? (createHttpsServer({ ...tls, ...handshakeLimits, handshakeTimeout: handshakeTimeoutMs }, upgradeRequired) as unknown as HttpServer)
    : createHttpServer(handshakeLimits, upgradeRequired);
  server.on('connection', (socket: Socket) => options.perAddress.track(socket));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (options.refusal(req.socket.remoteAddress)) return refuse(503, 'Service Unavailable');
    const origin = req.headers.origin;
    if (!origins().allows(origin)) {
      refuseOrigin(req.socket.remoteAddress, origin);
      return refuse(403, 'Forbidden');
    }
    wss.handleUpgrade(req, socket, head, (upgraded) => {
      const taken = upgraded.takenSocket;
      if (!taken) return socket.destroy();
      options.serve(new ServerWebSocketTransport(taken, upgraded.takenHead, `${req.socket.remoteAddress}:${req.socket.remotePort}`, options.maxFrameSize));
    });
  });
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'bad HTTP on the WebSocket port');
    socket.destroy();
  });
  server.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed on the WebSocket port'));
  await listen(server, options.port, options.host);
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => server.close(),
    destroyAll: () => server.closeAllConnections(),
    setTlsCredentials: (next) => {
      if (tls) (server as unknown as TlsServer).setSecureContext(next);
    },
  };
}

/** RSocket over TCP, length-prefixed frames (TLS when credentials are given). */
export async function listenTcp(options: ListenerOptions): Promise<Listener> {
  const { log, tls } = options;
  const onSocket = (socket: Socket) => {
    socket.on('error', () => {});
    options.serve(new TcpTransport(socket, options.maxFrameSize));
  };
  const server: TcpServer = tls
    ? createTlsServer({ ...tls, handshakeTimeout: options.handshakeTimeoutMs }, onSocket).on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed on the TCP port'))
    : createTcpServer();
  // Counted and judged before the TLS handshake: a refused socket costs no handshake.
  server.on('connection', (socket: Socket) => {
    options.perAddress.track(socket);
    if (options.refusal(socket.remoteAddress)) socket.destroy();
    else if (!tls) onSocket(socket);
  });
  await listen(server, options.port, options.host);
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => server.close(),
    // Every TCP socket is a broker connection, closed by the broker before this runs.
    destroyAll: () => {},
    setTlsCredentials: (next) => {
      if (tls) (server as TlsServer).setSecureContext(next);
    },
  };
}

function listen(server: HttpServer | TcpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
