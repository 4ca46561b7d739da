// Compiles the CLI and library into one ESM bundle, dist/sluice.mjs (npm install runs it via
// "prepare"). bin/sluice.js runs the bundle when it is newer than every source file, and the
// TypeScript sources through tsx otherwise, so a stale bundle is never used.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/sluice.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies stay in node_modules; only our own code is bundled.
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
