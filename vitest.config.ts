import { defineConfig } from 'vitest/config';

// The examples import Sluice by name ('sluice', 'sluice/client'); the 'sluice-source' export condition
// resolves those to the TypeScript sources under test, the same modules the tests import by path.
// Not vite's default 'module' condition: it picks builds some packages (@opentelemetry/api) publish for
// bundlers, with extensionless imports Node cannot load.
const conditions = ['sluice-source', 'node'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    // The packaging test packs and installs the tarball: it runs once, through vitest.package.config.ts.
    exclude: ['test/package/**', '**/node_modules/**'],
    // The admin server serves prebuilt browser assets: build them from the sources under test.
    globalSetup: ['test/helpers/build-assets.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real gateways and processes; 2 cores run 2 files at a time.
    maxWorkers: 2,
    // CI runs the suite once per Node line, each writing its own report (SLUICE_TEST_REPORT).
    reporters: process.env.CI ? ['default', ['json', { outputFile: process.env.SLUICE_TEST_REPORT ?? 'test-results/vitest.json' }]] : ['default'],
  },
});
