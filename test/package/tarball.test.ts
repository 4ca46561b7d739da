/**
 * The package contract, checked as a new user meets it: `npm pack` at the
 * repo root, `npm install ./sluice-<version>.tgz` in an empty project, then on
 * Node 20, 22 and 24: plain `node` imports `sluice` and `sluice/client`;
 * `npx sluice gateway` starts and `npx sluice call` talks to it (open mode on
 * loopback, through `npx sluice service bench`); esbuild bundles a page
 * importing `sluice/browser` for the browser within 20 KiB gzip; and the
 * project's dependency tree holds none of the demo's, the benchmarks' or the
 * build's packages.
 *
 * Run by `npm run test:package` (vitest.package.config.ts; CI counts it).
 * Node 22 and 24 come from the npm registry (scripts/node.sh); Node 20 is the
 * machine's.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_CLIENT_BUDGET } from '../../scripts/browser-bundles.js';
import { liveGroupMembers, stopProcessGroup } from '../helpers/process-group.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
/** Packages an application installing Sluice must never receive. */
const FORBIDDEN = ['@electric-sql/pglite', 'esbuild', 'tsx', 'vite', 'playwright-core'];
const LINES = [20, 22, 24] as const;

let work = '';
let project = '';
/** Process groups started by startSluice: every one must be gone when the file ends. */
const groups: number[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sluice-package-'));
  // --ignore-scripts is not used: packing runs "prepare", the build that makes dist/.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: repo, maxBuffer: 64 << 20 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string }>;
  project = join(work, 'app');
  await run('mkdir', ['-p', project]);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(work, packed!.filename)], { cwd: project });
}, 600_000);

afterAll(async () => {
  // A test that failed before its own stop() still leaves nothing running.
  await Promise.all(groups.map((pgid) => stopProcessGroup(pgid)));
  if (work) await rm(work, { recursive: true, force: true });
});

/** The Node binary of one major line: the one running the tests, or one from scripts/node.sh. */
async function nodeOf(line: number): Promise<string> {
  if (Number(process.versions.node.split('.')[0]) === line) return process.execPath;
  if (line === 20) throw new Error(`Node 20 must be the node running this test (this is ${process.version})`);
  const { stdout } = await run('bash', [join(repo, 'scripts/node.sh'), String(line)], { cwd: repo });
  return stdout.trim();
}

/** Environment whose PATH starts with `node`'s folder, so `npx` and the bin's `#!/usr/bin/env node` use it. */
function envFor(node: string): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}`, SLUICE_LOG_LEVEL: 'info' };
}

/**
 * Starts `npx sluice ...` in a process group of its own (npx runs the node
 * process under a shell and does not pass signals on, so the group is what
 * `stop` signals) and resolves with the process and its first stdout log
 * line whose msg is `msg`.
 */
function startSluice(node: string, args: string[], msg: string): Promise<{ proc: ChildProcess; line: Record<string, unknown> }> {
  const proc = spawn('npx', ['--no-install', 'sluice', ...args], { cwd: project, env: envFor(node), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  groups.push(proc.pid!);
  return new Promise((resolve, reject) => {
    let buffered = '';
    let errors = '';
    proc.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          if (line.msg === msg) resolve({ proc, line });
        } catch {
          // not a log line
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`sluice ${args[0]} exited (${code}) before logging '${msg}': ${errors}`)));
  });
}

/** Stops npx, its shell and the sluice process under them (the whole group), and checks none of them runs on. */
async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (!proc?.pid) return;
  await stopProcessGroup(proc.pid);
  expect(liveGroupMembers(proc.pid)).toEqual([]);
}

it('the installed dependency tree has none of the demo, benchmark, test or build packages', async () => {
  const { stdout } = await run('npm', ['ls', '--all', '--parseable'], { cwd: project, maxBuffer: 16 << 20 });
  const names = stdout.split('\n').filter(Boolean).map((path) => path.split('node_modules/').pop()!);
  expect(names).toContain('sluice');
  for (const name of FORBIDDEN) expect(names, name).not.toContain(name);
});

it('the package ships compiled JavaScript with types and no TypeScript sources', async () => {
  const files = await readdir(join(project, 'node_modules/sluice'), { recursive: true });
  expect(files).toContain(join('dist', 'src', 'index.d.ts'));
  expect(files).toContain(join('dist', 'assets', 'app.js'));
  expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
});

describe.each(LINES)('on Node %i', (line) => {
  let node = '';
  beforeAll(async () => {
    node = await nodeOf(line);
    const { stdout } = await run(node, ['--version']);
    expect(stdout.trim().startsWith(`v${line}.`)).toBe(true);
  }, 300_000);

  it('plain node imports sluice/client and sluice', async () => {
    const script = join(project, 'imports.mjs');
    await writeFile(
      script,
      [
        "import { connect } from 'sluice/client';",
        "import { connectService, createGateway } from 'sluice';",
        'const kinds = [connect, connectService, createGateway].map((f) => typeof f);',
        "console.log(kinds.join(','));",
      ].join('\n'),
    );
    const { stdout } = await run(node, [script], { cwd: project, env: envFor(node) });
    expect(stdout.trim()).toBe('function,function,function');
  });

  it('npx sluice gateway starts and npx sluice call talks to it through a service', { timeout: 120_000 }, async () => {
    let gateway: ChildProcess | undefined;
    let service: ChildProcess | undefined;
    try {
      const started = await startSluice(node, ['gateway', '--port', '0', '--admin-port', '0'], 'gateway listening');
      gateway = started.proc;
      const url = String(started.line.url);
      expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      service = (await startSluice(node, ['service', 'bench', '--url', url, '--instance', 'bench-pkg'], 'registered with the gateway')).proc;
      const { stdout } = await run('npx', ['--no-install', 'sluice', 'call', 'bench.echo', JSON.stringify({ from: `node ${line}` }), '--url', url], { cwd: project, env: envFor(node) });
      expect(JSON.parse(stdout)).toEqual({ from: `node ${line}` });
      // npx is not alone in its group: the sluice process it started runs under it, and stop() must end that one too.
      expect(liveGroupMembers(gateway.pid!).length).toBeGreaterThan(1);
    } finally {
      await stop(service);
      await stop(gateway);
    }
  });

  it('esbuild bundles a page importing sluice/browser for the browser, within 20 KiB gzip', async () => {
    await writeFile(join(project, 'page.js'), "import { connect } from 'sluice/browser';\nglobalThis.connectToSluice = connect;\n");
    const script = join(project, 'bundle.mjs');
    await writeFile(
      script,
      [
        `import { build } from ${JSON.stringify(join(repo, 'node_modules/esbuild/lib/main.js'))};`,
        "import { gzipSync } from 'node:zlib';",
        "const r = await build({ entryPoints: ['page.js'], bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, outfile: 'out.js', logLevel: 'silent' });",
        'const out = r.outputFiles[0];',
        'console.log(JSON.stringify({ gzip: gzipSync(out.contents, { level: 9 }).length, code: out.text }));',
      ].join('\n'),
    );
    const { stdout } = await run(node, [script], { cwd: project, env: envFor(node), maxBuffer: 16 << 20 });
    const { gzip, code } = JSON.parse(stdout) as { gzip: number; code: string };
    console.log(`Node ${line}: a page with sluice/browser bundles to ${gzip} bytes gzip`);
    expect(code).not.toMatch(/["']node:/);
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).toMatch(/WebSocket/);
    expect(gzip).toBeLessThanOrEqual(BROWSER_CLIENT_BUDGET.gzip);
  });
});
