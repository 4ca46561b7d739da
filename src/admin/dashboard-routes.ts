/**
 * The dashboard's HTTP routes on the admin server:
 *
 *   /                  the page
 *   /config.json       where the page's browser client connects
 *   /assets/app.js     the dashboard app
 *   /assets/sluice.js  the browser client bundle (also usable by any page of this origin)
 *   /assets/style.css, /assets/uplot.css
 *
 * Every file but config.json is built before packing (scripts/build.ts, into
 * dist/assets/) and only read here, so a gateway never bundles anything at
 * runtime. Files are read once, on the first request that needs them, and
 * kept in memory; a missing file answers 500 naming the build to run and is
 * read again on the next request.
 */
import { readFile } from 'node:fs/promises';
import { packagePath } from '../paths.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/log.js';

export interface DashboardOptions {
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:7878`. */
  gatewayUrl: string;
  /** Interval the dashboard asks of `sluice.stats`, in ms. Default 1000. */
  statsIntervalMs?: number;
  log: Logger;
}

type Asset = { type: string; body: () => Promise<string> };

/** Where the build writes the browser assets (scripts/browser-bundles.ts, ASSETS_DIR). */
const ASSETS = 'dist/assets';

/** Reads one prebuilt asset; a missing one says how to make it. */
async function asset(name: string): Promise<string> {
  try {
    return await readFile(packagePath(ASSETS, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${ASSETS}/${name} is missing: run npm run build (scripts/build.ts) in the Sluice package`);
    throw err;
  }
}

/** Returns the admin server's `extra` handler serving the dashboard. */
export function dashboardRoutes(options: DashboardOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const config = JSON.stringify({ gatewayUrl: options.gatewayUrl, statsIntervalMs: options.statsIntervalMs ?? 1_000 });
  const assets = new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: once(() => asset('index.html')) }],
    ['/config.json', { type: 'application/json', body: () => Promise.resolve(config) }],
    ['/assets/app.js', { type: 'text/javascript; charset=utf-8', body: once(() => asset('app.js')) }],
    ['/assets/sluice.js', { type: 'text/javascript; charset=utf-8', body: once(() => asset('sluice.js')) }],
    ['/assets/style.css', { type: 'text/css; charset=utf-8', body: once(() => asset('style.css')) }],
    ['/assets/uplot.css', { type: 'text/css; charset=utf-8', body: once(() => asset('uplot.css')) }],
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
