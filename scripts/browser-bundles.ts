/**
 * Build-time only: the browser assets made with esbuild's JS API, the browser
 * client bundle (`sluice.js`) and the dashboard app. They are built before
 * packing (scripts/build.ts writes them to dist/assets/, which the package
 * ships) so that the gateway serves files and never needs esbuild at runtime.
 *
 * `platform: 'browser'` makes any import of a Node builtin a build error, so a
 * bundle that builds is a bundle with no Node-only module in it.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));

/** Entry of the browser client bundle. */
export const BROWSER_CLIENT_ENTRY = root('clients/browser/index.ts');
/** Entry of the dashboard app (it imports the browser client and uPlot). */
export const DASHBOARD_ENTRY = root('src/admin/dashboard/app.ts');
/** Where the build writes the browser assets; the admin server serves this folder (src/admin/assets.ts). */
export const ASSETS_DIR = root('dist/assets');

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

/**
 * Builds one browser bundle to `outfile`, returning its sizes. Written to a
 * temporary file and renamed, so a server reading the folder never sees half a file.
 */
export async function writeBundle(entry: string, outfile: string): Promise<Bundle> {
  const bundle = await buildBundle(entry);
  await writeAtomically(outfile, bundle.code);
  return bundle;
}

/** Writes `text` to `path` through a temporary file in the same folder and a rename. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** The files the admin server serves from ASSETS_DIR, and what each is made from. */
const COPIED_ASSETS: ReadonlyArray<readonly [name: string, source: string]> = [
  ['index.html', root('src/admin/dashboard/index.html')],
  ['style.css', root('src/admin/dashboard/style.css')],
  ['uplot.css', createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css')],
];

/**
 * Builds every browser asset into `dir` (default dist/assets/): the client
 * bundle `sluice.js`, the dashboard app `app.js`, and the page and styles it
 * loads. Returns the client bundle's sizes.
 */
export async function buildAssets(dir = ASSETS_DIR): Promise<Bundle> {
  const [client] = await Promise.all([
    writeBundle(BROWSER_CLIENT_ENTRY, join(dir, 'sluice.js')),
    writeBundle(DASHBOARD_ENTRY, join(dir, 'app.js')),
    ...COPIED_ASSETS.map(async ([name, source]) => writeAtomically(join(dir, name), await readFile(source, 'utf8'))),
  ]);
  return client;
}
