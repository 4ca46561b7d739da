/**
 * The synchronous-chain baseline: three plain HTTP services (node:http)
 * calling each other the way a request-per-hop architecture does:
 *
 *   client ── POST /orders ──▶ order ── POST /authorize ──▶ payment ── POST /reserve ──▶ inventory
 *
 * Each hop awaits the next before answering, with keep-alive agents and no
 * socket cap (Node's defaults apart from keep-alive). Inventory answers after
 * `latencyMs` and fails a `failureRate` share of calls with 503; the failure
 * travels back up as 502. Every service reports `GET /stats`: requests it is
 * holding open, its open server sockets and its outbound sockets, which is
 * what grows when a dependency slows down.
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ChainRole = 'order' | 'payment' | 'inventory';

export interface ChainServiceOptions {
  role: ChainRole;
  port?: number;
  /** The next service's base URL (order -> payment -> inventory); not for inventory. */
  upstream?: string;
  /** Inventory: ms before answering. */
  latencyMs?: number;
  /** Inventory: share of calls answered 503, 0-1. */
  failureRate?: number;
}

export interface ChainStats {
  /** Requests received and not answered yet. */
  pending: number;
  /** Open server-side sockets. */
  sockets: number;
  /** Open sockets to the next service. */
  upstreamSockets: number;
  served: number;
  failed: number;
}

export interface ChainService {
  readonly url: string;
  stats(): ChainStats;
  close(): Promise<void>;
}

/** A failed HTTP call, counted by the load driver under `HTTP_<status>` (or the socket error's code). */
export class HttpCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A keep-alive agent with no socket cap: the default shape of a service calling another. */
export function chainAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: Infinity });
}

/** POSTs JSON and resolves with the parsed answer on 2xx; rejects with an HttpCallError otherwise. */
export function postJson(agent: Agent, url: string, body: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(text ? JSON.parse(text) : undefined);
        else reject(new HttpCallError(`HTTP_${status}`, `${url} answered ${status}: ${text}`));
      });
      res.on('error', (err) => reject(new HttpCallError('HTTP_ABORTED', err.message)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(new HttpCallError(err.code ?? 'HTTP_ERROR', err.message)));
    req.end(data);
  });
}

export async function startChainService(o: ChainServiceOptions): Promise<ChainService> {
  const agent = chainAgent();
  const counters = { pending: 0, sockets: 0, served: 0, failed: 0 };
  const handle = async (req: IncomingMessage): Promise<{ status: number; body: unknown }> => {
    const body = await readJson(req);
    switch (o.role) {
      case 'inventory': {
        await new Promise((r) => setTimeout(r, o.latencyMs ?? 0));
        if (Math.random() < (o.failureRate ?? 0)) return { status: 503, body: { error: 'inventory unavailable' } };
        return { status: 200, body: { reserved: true } };
      }
      case 'payment':
        try {
          await postJson(agent, `${o.upstream}/reserve`, body);
          return { status: 200, body: { authorized: true } };
        } catch (err) {
          return { status: 502, body: { error: `inventory: ${(err as Error).message}` } };
        }
      case 'order':
        try {
          await postJson(agent, `${o.upstream}/authorize`, body);
          return { status: 201, body: { orderId: (body as { idempotencyKey?: string })?.idempotencyKey ?? null, status: 'CONFIRMED' } };
        } catch (err) {
          return { status: 502, body: { error: `payment: ${(err as Error).message}` } };
        }
    }
  };
  const stats = (): ChainStats => {
    const count = (pool: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(pool).reduce((n, s) => n + (s?.length ?? 0), 0);
    return { ...counters, upstreamSockets: count(agent.sockets) + count(agent.freeSockets) };
  };
  const http: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/stats') return send(res, 200, stats());
    counters.pending++;
    handle(req).then(
      ({ status, body }) => {
        counters.pending--;
        counters[status < 300 ? 'served' : 'failed']++;
        send(res, status, body);
      },
      (err: unknown) => {
        counters.pending--;
        counters.failed++;
        send(res, 400, { error: (err as Error).message });
      },
    );
  });
  http.keepAliveTimeout = 60_000;
  http.on('connection', (socket) => {
    counters.sockets++;
    socket.once('close', () => counters.sockets--);
  });
  await new Promise<void>((resolve) => http.listen(o.port ?? 0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Bounded: these services take small JSON bodies only.
      if (size > 64 * 1024) req.destroy(new Error('body over 64 KiB'));
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
      } catch (err) {
        reject(err as Error);
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }).end(data);
}
