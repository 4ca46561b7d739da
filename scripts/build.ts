/**
 * Builds what the package ships (npm install in a clone and npm pack run it via "prepare"):
 *   dist/src, dist/clients   compiled ESM with .d.ts, by tsc (tsconfig.build.json)
 *   dist/assets              the browser client bundle and the dashboard, by esbuild
 * so that the installed package runs plain JavaScript and serves prebuilt files: no TypeScript,
 * tsx or esbuild at runtime. Then, outside the package, each example's CLI as one bundle
 * (examples/<name>/dist/cli.mjs, Sluice's sources included through the 'sluice-source'
 * condition, dependencies left to node_modules) that the demo supervisor runs when it is fresh,
 * so the example services start as fast as compiled code. `--assets` builds only dist/assets
 * (fast; the tests and the bin script's source mode use it).
 */
import { spawnSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { build } from 'esbuild';
import { ASSETS_DIR, BROWSER_CLIENT_BUDGET, buildAssets } from './browser-bundles.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const assetsOnly = process.argv.includes('--assets');

if (!assetsOnly) {
  // A stale file of a module since moved or deleted would still be importable from the package.
  await Promise.all(['dist/src', 'dist/clients', 'dist/examples', 'dist/test'].map((d) => rm(new URL(`../${d}`, import.meta.url), { recursive: true, force: true })));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write('build: tsc failed\n');
    process.exit(1);
  }
  // tsc emits every file the package imports: anything outside src/ and clients/ means the product
  // reaches into the examples or the tests, whose dependencies an installed package does not have.
  const strays = (await readdir(new URL('../dist', import.meta.url))).filter((d) => !['src', 'clients', 'assets'].includes(d));
  if (strays.length > 0) {
    process.stderr.write(`build: the package imports code outside src/ and clients/: dist/${strays.join(', dist/')}\n`);
    process.exit(1);
  }
}

const client = await buildAssets();
// The checkout order service runs its store in a worker thread, whose entry is bundled beside the CLI.
const exampleEntries: Record<string, Record<string, string>> = {
  checkout: { cli: 'examples/checkout/src/cli/main.ts', 'order-db-worker': 'examples/checkout/src/order-db-worker.ts' },
  bench: { cli: 'examples/bench/src/cli/main.ts' },
};
if (!assetsOnly) await Promise.all(Object.entries(exampleEntries).map(([name, entries]) => buildExampleCli(name, entries)));

/** Bundles one example's CLI (and its other entry points), every bare import external but Sluice's own. */
async function buildExampleCli(name: string, entries: Record<string, string>): Promise<void> {
  await build({
    entryPoints: entries,
    outdir: `examples/${name}/dist`,
    outExtension: { '.js': '.mjs' },
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['sluice-source'],
    logLevel: 'warning',
    plugins: [
      {
        name: 'external-dependencies',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => (args.path === 'sluice' || args.path.startsWith('sluice/') ? undefined : { path: args.path, external: true }));
        },
      },
    ],
  });
}
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
process.stdout.write(
  `${relative(root, ASSETS_DIR)}/sluice.js: ${kib(client.bytes)} minified, ${kib(client.gzipBytes)} gzip ` +
    `(budget ${kib(BROWSER_CLIENT_BUDGET.raw)} / ${kib(BROWSER_CLIENT_BUDGET.gzip)})\n`,
);
