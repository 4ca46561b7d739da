// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeOnly = ['node:*', 'ws', 'pino', 'prom-client', 'fs', 'net', 'http', 'crypto', 'stream', 'buffer'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.cache/**', 'dist/**', 'scratch/**', 'docs/bench/**', 'clients/browser/dist/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The isomorphic core runs in browsers: no Node-only modules.
    files: ['src/errors.ts', 'src/protocol/**', 'src/auth/grant.ts', 'src/auth/bearer.ts', 'src/loopback.ts', 'src/rsocket/**', 'src/flow/**', 'src/resilience/backoff.ts', 'src/resilience/clock.ts', 'src/resilience/circuit-breaker.ts', 'src/resilience/bulkhead.ts', 'src/resilience/token-bucket.ts', 'src/resilience/rate-limiter.ts', 'src/resilience/retry-budget.ts', 'src/resilience/deadline.ts', 'src/resilience/operators/**', 'src/observability/log.ts', 'src/observability/rate-limited-log.ts', 'clients/core/**', 'clients/browser/**', 'src/admin/dashboard/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: nodeOnly.map((group) => ({ group: [group], message: 'isomorphic code: no Node-only modules' })) }],
      'no-restricted-globals': ['error', { name: 'Buffer', message: 'isomorphic code: use Uint8Array' }, { name: 'process', message: 'isomorphic code' }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
