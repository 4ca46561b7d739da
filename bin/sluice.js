#!/usr/bin/env node
// The `sluice` command. Installed from the package, it runs the compiled JavaScript in dist/.
// In a clone (src/ present) it runs the compiled code when dist/ is newer than every source
// file, and otherwise the TypeScript sources through tsx (a dev dependency), first rebuilding
// the browser assets the admin server serves if they are older than the sources, so an edited
// clone never runs stale code. SLUICE_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
const sources = ['src', 'clients'].map((dir) => join(root, dir));

/** Newest modification time of the files below `dir`. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** Whether `file` exists and is at least as new as every source file. */
function fresh(file, sourcesTime) {
  try {
    return statSync(file).mtimeMs >= sourcesTime;
  } catch {
    return false;
  }
}

let main;
if (!sources.every((dir) => existsSync(dir))) {
  ({ main } = await import(pathToFileURL(compiled).href));
} else {
  const sourcesTime = Math.max(...sources.map(newest));
  if (process.env.SLUICE_FROM_SOURCE !== '1' && fresh(compiled, sourcesTime)) {
    ({ main } = await import(pathToFileURL(compiled).href));
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    if (!fresh(join(root, 'dist', 'assets', 'app.js'), sourcesTime)) {
      const { buildAssets } = await import('../scripts/browser-bundles.ts');
      await buildAssets();
    }
    ({ main } = await import('../src/cli/main.ts'));
  }
}
await main(process.argv.slice(2));
