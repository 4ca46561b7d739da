#!/usr/bin/env node
// The `sluice` command. Runs the compiled bundle (dist/sluice.mjs, built by `npm install`)
// when it is newer than every source file; otherwise runs the TypeScript sources through
// tsx, so an edited checkout never runs stale code. SLUICE_FROM_SOURCE=1 forces the sources.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(root, 'dist', 'sluice.mjs');

/** Newest modification time of the files below `dir` (generated dist folders aside). */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function bundleIsFresh() {
  if (process.env.SLUICE_FROM_SOURCE === '1') return false;
  try {
    return statSync(bundle).mtimeMs >= Math.max(newest(join(root, 'src')), newest(join(root, 'clients')));
  } catch {
    return false;
  }
}

let main;
if (bundleIsFresh()) {
  ({ main } = await import(bundle));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
await main(process.argv.slice(2));
