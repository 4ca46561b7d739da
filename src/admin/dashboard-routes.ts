/**
 * The dashboard's HTTP routes on the admin server:
 *
 *   /                  the page (src/admin/dashboard/index.html)
 *   /config.json       where the page's browser client connects
 *   /assets/app.js     the dashboard app, bundled by esbuild on first request
 *   /assets/sluice.js  the browser client bundle (also usable by any page of this origin)
 *   /assets/style.css, /assets/uplot.css
 *
 * Bundles are built once, on the first request that needs them, and kept in
 * memory; a failed build answers 500 with esbuild's message and is retried on
 * the next request. Nothing generated is written to disk.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { packagePath } from '../paths.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/log.js';
import { BROWSER_CLIENT_ENTRY, DASHBOARD_ENTRY, buildBundle } from './bundles.js';

export interface DashboardOptions {
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:7878`. */
  gatewayUrl: string;
  /** Interval the dashboard asks of `sluice.stats`, in ms. Default 1000. */
  statsIntervalMs?: number;
  log: Logger;
}

type Asset = { type: string; body: () => Promise<string> };

const here = (file: string): string => packagePath('src/admin', file);
const require = createRequire(packagePath('package.json'));

/** Returns the admin server's `extra` handler serving the dashboard. */
export function dashboardRoutes(options: DashboardOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const config = JSON.stringify({ gatewayUrl: options.gatewayUrl, statsIntervalMs: options.statsIntervalMs ?? 1_000 });
  const assets = new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: once(() => readFile(here('./dashboard/index.html'), 'utf8')) }],
    ['/config.json', { type: 'application/json', body: () => Promise.resolve(config) }],
    ['/assets/app.js', { type: 'text/javascript; charset=utf-8', body: once(async () => (await buildBundle(DASHBOARD_ENTRY)).code) }],
    ['/assets/sluice.js', { type: 'text/javascript; charset=utf-8', body: once(async () => (await buildBundle(BROWSER_CLIENT_ENTRY)).code) }],
    ['/assets/style.css', { type: 'text/css; charset=utf-8', body: once(() => readFile(here('./dashboard/style.css'), 'utf8')) }],
    ['/assets/uplot.css', { type: 'text/css; charset=utf-8', body: once(() => readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')) }],
  ]);
  assets.set('/index.html', assets.get('/')!);

  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const asset = assets.get(path);
    if (!asset) return false;
    asset.body().then(
      (body) => {
        res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: Error) => {
        options.log.error({ err: err.message, path }, 'dashboard asset failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`dashboard asset ${path} failed: ${err.message}\n`);
      },
    );
    return true;
  };
}

/** Caches a successful result; a failure is not cached, so the next request retries. */
function once(make: () => Promise<string>): () => Promise<string> {
  let pending: Promise<string> | undefined;
  return () => {
    pending ??= make().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
