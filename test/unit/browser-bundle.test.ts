/**
 * The browser client bundle: builds for platform 'browser' (so no Node
 * builtin can be in it), contains no Node-only code, stays within its
 * documented size budget, and the budget in docs/browser.md is the one enforced.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROWSER_CLIENT_BUDGET, BROWSER_CLIENT_ENTRY, buildBundle } from '../../scripts/browser-bundles.js';

describe('browser client bundle', () => {
  it('builds for the browser with no Node-only code, within its size budget', async () => {
    const bundle = await buildBundle(BROWSER_CLIENT_ENTRY);
    expect(bundle.code).not.toMatch(/\brequire\(/);
    expect(bundle.code).not.toMatch(/\bBuffer\b/);
    expect(bundle.code).not.toMatch(/\bprocess\.(env|nextTick|versions)/);
    expect(bundle.code).not.toMatch(/["']node:/);
    expect(bundle.code).not.toMatch(/\bfrom\s*["'][^."'/]/); // no bare import left for the browser to resolve
    // The public API is exported.
    for (const name of ['connect', 'SluiceError', 'ErrorCodes', 'browserTransport', 'SluiceClient', 'traceContextEntry']) expect(bundle.code).toMatch(new RegExp(`\\b${name}\\b`));
    // The browser only propagates trace context: no tracing SDK or exporter rides along.
    expect(bundle.code).not.toMatch(/BasicTracerProvider|OTLPTraceExporter|opentelemetry/i);
    console.log(`browser bundle: ${bundle.bytes} bytes minified, ${bundle.gzipBytes} bytes gzip`);
    expect(bundle.bytes).toBeLessThanOrEqual(BROWSER_CLIENT_BUDGET.raw);
    expect(bundle.gzipBytes).toBeLessThanOrEqual(BROWSER_CLIENT_BUDGET.gzip);
  });

  it('fails to build when browser code imports a Node builtin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-bundle-'));
    try {
      const entry = join(dir, 'entry.ts');
      await writeFile(entry, "import { connect } from 'node:net';\nexport const c = connect;\n");
      await expect(buildBundle(entry)).rejects.toThrow(/node:net/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('documents the budget it enforces', async () => {
    const doc = await readFile(new URL('../../docs/browser.md', import.meta.url), 'utf8');
    expect(doc).toContain(`${BROWSER_CLIENT_BUDGET.raw / 1024} KiB minified`);
    expect(doc).toContain(`${BROWSER_CLIENT_BUDGET.gzip / 1024} KiB gzip`);
  });
});
