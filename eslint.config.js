// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The OpenTelemetry SDK and exporter are Node-only here: browsers only propagate trace context.
const nodeOnly = ['node:*', 'ws', 'pino', 'prom-client', 'fs', 'net', 'http', 'crypto', 'stream', 'buffer', '@opentelemetry/*'];

/**
 * The import rules of each layer (docs/architecture.md, "Layers"), one block
 * per folder. A layer may import the layers below it, never above; the
 * isomorphic ones (they run in browsers) no Node-only module either. ESLint
 * applies only the last matching block's options of a rule, so the globs do
 * not overlap and each block lists everything its files may not import.
 */
function layers() {
  /** Folders of src/ by layer, as import patterns matched against relative specifiers. */
  const src = (...dirs) => dirs.map((d) => `**/src/${d}`).concat(dirs.map((d) => `../${d}`), dirs.map((d) => `../../${d}`));
  const above = {
    broker: ['broker/*', 'policy/*', 'deadletter/*', 'webhooks/*', 'durable/*'],
    service: ['service/*'],
    client: ['client/*'],
    transport: ['transport/*'],
    edge: ['admin/*', 'cli/*', 'loadtest/*', 'gateway.js', 'index.js'],
    /** Node-side authority: gateway config, token verification and minting. */
    authority: ['config.js', 'auth/authenticator.js', 'auth/key-files.js', 'auth/verifier.js', 'auth/mint.js', 'auth/permissions.js'],
    apps: ['checkout/*', 'bench/*', 'demo/*'],
  };
  const clients = ['**/clients/**'];
  const rule = (name, forbidden, isomorphic) => {
    const patterns = forbidden.map((group) => ({ group: [group], message: `${name} may not import this layer (docs/architecture.md, Layers)` }));
    if (isomorphic) patterns.push(...nodeOnly.map((group) => ({ group: [group], message: 'isomorphic code: no Node-only modules' })));
    return { 'no-restricted-imports': ['error', { patterns }] };
  };
  const isomorphicGlobals = {
    'no-restricted-globals': ['error', { name: 'Buffer', message: 'isomorphic code: use Uint8Array' }, { name: 'process', message: 'isomorphic code' }],
  };
  const core = ['src/errors.ts', 'src/protocol/**', 'src/rsocket/**', 'src/flow/**', 'src/resilience/**', 'src/auth/grant.ts', 'src/auth/bearer.ts', 'src/loopback.ts', 'src/observability/log.ts', 'src/observability/rate-limited-log.ts'];
  return [
    {
      // The isomorphic core: protocol, engine, flow, resilience primitives, errors. Everything builds on it; it builds on nothing of ours.
      files: core,
      rules: { ...rule('the core', [...src(...above.broker, ...above.service, ...above.client, ...above.transport, ...above.edge, ...above.authority, ...above.apps), ...clients], true), ...isomorphicGlobals },
    },
    {
      // The isomorphic client (Node and browser entries, the service API and the dashboard use it).
      files: ['src/client/**'],
      rules: { ...rule('the client', [...src(...above.broker, ...above.service, ...above.transport, ...above.edge, ...above.authority, ...above.apps), ...clients], true), ...isomorphicGlobals },
    },
    {
      // The browser entry and the dashboard page: the isomorphic core and client only.
      files: ['clients/browser/**', 'src/admin/dashboard/**'],
      rules: { ...rule('browser code', [...src(...above.broker, ...above.service, ...above.transport, 'admin/*.js', 'cli/*', 'loadtest/*', 'gateway.js', 'index.js', ...above.authority, ...above.apps), '**/clients/node/**'], true), ...isomorphicGlobals },
    },
    {
      // The Node entry: the client and the Node dialers.
      files: ['clients/node/**'],
      rules: rule('the Node client entry', [...src(...above.broker, ...above.service, ...above.edge, ...above.apps), '**/clients/browser/**'], false),
    },
    {
      // Node carriers and servers; the client dialers build on the client core.
      files: ['src/transport/**'],
      rules: rule('the transport layer', [...src(...above.broker, ...above.service, ...above.edge, ...above.apps), ...clients], false),
    },
    {
      // The service API: the core, the client (its connection and reconnect) and the Node dialers.
      files: ['src/service/**'],
      rules: rule('the service API', [...src(...above.broker, ...above.edge, ...above.apps), ...clients], false),
    },
    {
      // The broker (registry, routing, forwarding, policies, dead letters, webhook dispatch, durable routes): no listening sockets, no clients.
      files: ['src/broker/**', 'src/policy/**', 'src/deadletter/**', 'src/webhooks/**', 'src/durable/**'],
      rules: rule('the broker', [...src(...above.client, ...above.transport, ...above.edge, ...above.apps), ...clients], false),
    },
    {
      // Observability, auth, the HTTP bridge, admin and the composition root: anything of the product, nothing of clients/ or the apps.
      files: ['src/observability/**', 'src/auth/**', 'src/http/**', 'src/admin/*.ts', 'src/loadtest/**', 'src/gateway.ts', 'src/config.ts', 'src/index.ts'],
      ignores: core,
      rules: rule('the product', [...src(...above.apps), ...clients], false),
    },
    {
      // The sluice command: the product, and (for now) the launchers of the checkout demo and the benchmarks.
      files: ['src/cli/**'],
      rules: rule('the command line', clients, false),
    },
  ];
}

export default tseslint.config(
  { ignores: ['node_modules/**', '.cache/**', 'dist/**', 'scratch/**', 'docs/bench/**', 'clients/browser/dist/**', 'examples/*/dist/**', 'test-results/**'] },
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
  ...layers(),
  {
    // A Node Buffer's slice() is a view of the same memory, so a "copy" made with it pins the socket read it
    // came in and shares later writes into it (src/protocol/copy-bytes.ts). Arrays copy with [...a] or Array.from.
    files: ['src/**/*.ts', 'clients/**/*.ts', 'examples/*/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.property.name='slice'][arguments.length=0]", message: 'slice() of a Buffer is a view, not a copy: use copyOf (src/protocol/copy-bytes.ts) for bytes, [...a] for arrays' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/*/test/**/*.ts', 'examples/*/scripts/**/*.ts'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
