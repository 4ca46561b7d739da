// The packaging test (test/package): packs the tarball and installs it in an empty project, so it
// runs once per CI run (`npm run test:package`), apart from the suite that runs per Node line.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 600_000,
    maxWorkers: 1,
    reporters: process.env.CI ? ['default', ['json', { outputFile: process.env.SLUICE_TEST_REPORT ?? 'test-results/vitest-package.json' }]] : ['default'],
  },
});
