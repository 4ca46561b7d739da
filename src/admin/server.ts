/**
 * The admin HTTP server: liveness, readiness and Prometheus metrics, plus
 * extra routes (the gateway mounts the dashboard through `extra`, see
 * dashboard-routes.ts). Loopback by default: it is for operators. With TLS
 * credentials it serves https.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { TlsCredentials } from '../transport/tls.js';

export interface AdminHandlers {
  /** null when ready; otherwise the reasons it is not. */
  notReadyReasons(): string[];
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Extra routes (dashboard assets), checked before the 404. */
  extra?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /**
   * Checks the caller of `/metrics` (the only route that tells more than the
   * public dashboard code does). Resolves to undefined when allowed, else to
   * the refusal. Default: everyone may read.
   */
  authorize?: (authorization: string | undefined) => Promise<AdminRefusal | undefined>;
}

/** Why the admin server refused a request: 401 (no or bad token) or 403 (a token without the admin grant). */
export interface AdminRefusal {
  status: 401 | 403;
  message: string;
}

export interface AdminServer {
  readonly url: string;
  /** Serves new handshakes with renewed credentials (an https server only; a no-op otherwise). */
  setTlsCredentials(tls: TlsCredentials): void;
  close(): Promise<void>;
}

/** Starts the admin server on `host:port` (0: any free port); https when `tls` is given. */
export async function startAdminServer(host: string, port: number, handlers: AdminHandlers, tls?: TlsCredentials): Promise<AdminServer> {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res, handlers).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error: ${err.message}\n`);
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, onRequest) : createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://${formatHost(host)}:${address.port}`,
    setTlsCredentials: (next) => {
      if (tls) (server as unknown as TlsServer).setSecureContext({ cert: next.cert, key: next.key });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, h: AdminHandlers): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  if (path === '/healthz') {
    json(res, 200, { status: 'ok' });
    return;
  }
  if (path === '/readyz') {
    const reasons = h.notReadyReasons();
    json(res, reasons.length === 0 ? 200 : 503, reasons.length === 0 ? { status: 'ready' } : { status: 'not ready', reasons });
    return;
  }
  if (path === '/metrics') {
    const refusal = await h.authorize?.(req.headers.authorization);
    if (refusal) {
      res.writeHead(refusal.status, { 'content-type': 'text/plain', ...(refusal.status === 401 ? { 'www-authenticate': 'Bearer realm="sluice-admin"' } : {}) }).end(`${refusal.message}\n`);
      return;
    }
    const m = await h.metrics();
    res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
    return;
  }
  if (h.extra?.(req, res)) return;
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
