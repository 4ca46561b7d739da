/**
 * A bare RSocket server with no gateway behind it: services connect to it as
 * they would to a gateway, and the bench sends requests straight down their
 * connections. It is the "same service, no hop" baseline.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { readRegistration } from '../../../src/protocol/registration.js';
import { Connection, refusingResponder } from '../../../src/rsocket/connection.js';
import { ServerConnection } from '../../../src/rsocket/server-connection.js';
import { WebSocketTransport } from '../../../src/transport/websocket-transport.js';

export interface DirectServer {
  readonly url: string;
  /** Resolves with the connection of the first service that registers `route`. */
  serviceFor(route: string): Promise<Connection>;
  close(): Promise<void>;
}

export async function startDirectServer(): Promise<DirectServer> {
  const waiting = new Map<string, Array<(c: Connection) => void>>();
  const registered = new Map<string, Connection>();
  const connections = new Set<Connection>();
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  wss.on('connection', (ws, req) => {
    const conn = ServerConnection.accept(new WebSocketTransport(ws, req.socket, `${req.socket.remoteAddress}:${req.socket.remotePort}`), {
      accept: (setup) => {
        for (const r of readRegistration(setup.metadata)?.routes ?? []) {
          registered.set(r.name, conn);
          for (const w of waiting.get(r.name) ?? []) w(conn);
          waiting.delete(r.name);
        }
        return refusingResponder;
      },
    }, { limits: { maxOutboundStreams: 1 << 20 } });
    connections.add(conn);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    serviceFor(route) {
      const c = registered.get(route);
      if (c) return Promise.resolve(c);
      return new Promise((resolve) => waiting.set(route, [...(waiting.get(route) ?? []), resolve]));
    },
    async close() {
      for (const c of connections) c.close();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
