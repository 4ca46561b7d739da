/**
 * Builds the browser assets with esbuild's JS API: the browser client bundle
 * (`sluice.js`) and the dashboard app. Nothing generated is committed: the
 * admin server builds each bundle in memory on its first request and keeps
 * it, and `npm run build:browser` writes the client bundle to
 * `clients/browser/dist/` for apps that want the file.
 *
 * `platform: 'browser'` makes any import of a Node builtin a build error, so a
 * bundle that builds is a bundle with no Node-only module in it.
 */
import { packagePath } from '../paths.js';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions } from 'esbuild';

const root = (path: string): string => packagePath(path);

/** Entry of the browser client bundle. */
export const BROWSER_CLIENT_ENTRY = root('clients/browser/index.ts');
/** Entry of the dashboard app (it imports the browser client and uPlot). */
export const DASHBOARD_ENTRY = root('src/admin/dashboard/app.ts');
/** Where `npm run build:browser` writes the client bundle. */
export const BROWSER_CLIENT_OUTFILE = root('clients/browser/dist/sluice.js');

/**
 * Size budget of the minified client bundle, in bytes, documented in
 * docs/browser.md; a test fails when the bundle outgrows it.
 */
export const BROWSER_CLIENT_BUDGET = { raw: 64 * 1024, gzip: 20 * 1024 } as const;

/** The esbuild options shared by every browser bundle. */
export function browserBuildOptions(entry: string): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    // Nothing may stay external: a bare import left in the output would not load in a browser.
    external: [],
    define: { 'process.env.NODE_ENV': '"production"' },
    // rxjs's ES2015 build: its default ES5 build brings tslib's helpers along (about 4 KiB minified).
    conditions: ['es2015'],
  };
}

export interface Bundle {
  readonly code: string;
  /** Size in bytes, raw and gzip-compressed (level 9). */
  readonly bytes: number;
  readonly gzipBytes: number;
}

/** Builds one browser bundle in memory. Rejects with esbuild's errors (e.g. a Node builtin imported). */
export async function buildBundle(entry: string): Promise<Bundle> {
  const result = await build({ ...browserBuildOptions(entry), write: false, outfile: 'bundle.js' });
  const file = result.outputFiles?.[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  return { code: file.text, bytes: file.contents.length, gzipBytes: gzipSync(file.contents, { level: 9 }).length };
}

/** Builds the client bundle to `outfile` (default `clients/browser/dist/sluice.js`). */
export async function writeBrowserClient(outfile = BROWSER_CLIENT_OUTFILE): Promise<Bundle> {
  const bundle = await buildBundle(BROWSER_CLIENT_ENTRY);
  await build({ ...browserBuildOptions(BROWSER_CLIENT_ENTRY), write: true, outfile });
  return bundle;
}
