/**
 * Starts Sluice processes as children, restarts the ones that crash (with
 * backoff, bounded by a crash-loop limit), and stops them in order. Children run
 * a program (`sluice`, or an example's CLI) with an IPC channel (they report
 * `listening` / `registered` over it) in their own process group, and exit
 * by themselves if the supervisor goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../../../src/paths.js';

/** The `sluice` command of the Sluice package this example belongs to. */
export const SLUICE_BIN = packagePath('bin', 'sluice.js');

/** Node arguments that run one program: everything before the program's own arguments. */
export type Program = readonly string[];

/** `sluice <command>`: the product's CLI. */
export const SLUICE: Program = [SLUICE_BIN];

/** Newest source modification time, read once (see sourcesTime). */
let newestSource: number | undefined;

/**
 * An example's CLI: its bundle (examples/<name>/dist/cli.mjs, made by
 * `npm run build`) when that is newer than every source it holds, otherwise
 * its TypeScript through tsx with Sluice resolved to its sources by the
 * 'sluice-source' export condition, as the example's npm scripts run it. The
 * same rule as bin/sluice.js (SLUICE_FROM_SOURCE=1 forces the sources), so a
 * restarted service starts as fast as compiled code and an edit is never stale.
 */
export function exampleProgram(name: 'checkout' | 'bench'): Program {
  const bundle = packagePath('examples', name, 'dist', 'cli.mjs');
  if (process.env.SLUICE_FROM_SOURCE !== '1' && mtime(bundle) >= sourcesTime()) return [bundle];
  return ['--conditions=sluice-source', '--import', 'tsx', packagePath('examples', name, 'src', 'cli', 'main.ts')];
}

/** `sluice-checkout <command>`: demo, service order|payment|inventory, order. */
export const CHECKOUT: Program = exampleProgram('checkout');


/** Newest modification time of the sources an example bundle holds (Sluice's and the examples'). */
function sourcesTime(): number {
  newestSource ??= Math.max(...['src', 'clients', 'examples/checkout/src', 'examples/bench/src'].map((dir) => newest(packagePath(dir))));
  return newestSource;
}

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

export interface ChildSpec {
  readonly name: string;
  /** What runs: default the `sluice` command. */
  readonly program?: Program;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Resolves with the child's first IPC message of `type`. */
  message<T = Record<string, unknown>>(type: string, timeoutMs: number): Promise<T>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited. */
  stop(graceMs: number): Promise<void>;
}

export function startChild(spec: ChildSpec, output: 'inherit' | 'ignore' | 'pipe' = 'inherit'): Child {
  const proc = spawn(process.execPath, [...(spec.program ?? SLUICE), ...spec.args], {
    stdio: ['ignore', output, output, 'ipc'],
    env: { ...process.env, ...spec.env },
    detached: true,
  });
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  return {
    name: spec.name,
    process: proc,
    message<T>(type: string, timeoutMs: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error(`${spec.name}: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
        const onMessage = (m: unknown) => {
          if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === type) {
            cleanup();
            resolve(m as T);
          }
        };
        const onExit = (code: number | null) => fail(new Error(`${spec.name} exited (code ${code}) before '${type}'`));
        const cleanup = () => {
          clearTimeout(timer);
          proc.off('message', onMessage);
          proc.off('exit', onExit);
        };
        const fail = (e: Error) => {
          cleanup();
          reject(e);
        };
        proc.on('message', onMessage);
        proc.once('exit', onExit);
      });
    },
    async stop(graceMs: number): Promise<void> {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers 200, for at most `timeoutMs`. */
export async function waitForHttpOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (last answer: ${last.trim()})`);
}

/**
 * When a supervised child is restarted: after `initialDelayMs`, doubling
 * (`multiplier`) with each crash within `windowMs`, up to `maxDelayMs`; a
 * child that crashes more than `maxRestarts` times within `windowMs` is in a
 * crash loop and is left down (the others keep running). The same knobs as
 * systemd's RestartSec, StartLimitBurst and StartLimitIntervalSec.
 */
export interface RestartPolicy {
  /** Default 500 ms. */
  initialDelayMs: number;
  /** Default 10000 ms. */
  maxDelayMs: number;
  /** Default 2. */
  multiplier: number;
  /** Default 5. */
  maxRestarts: number;
  /** Default 60000 ms. */
  windowMs: number;
}

export const defaultRestartPolicy: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 10_000, multiplier: 2, maxRestarts: 5, windowMs: 60_000 };

export interface SupervisionEvents {
  /** A child process started (`restarts` = 0 the first time). */
  started(name: string, pid: number | undefined, restarts: number): void;
  /** It exited without being asked to; it restarts after `delayMs`. */
  restarting(name: string, exit: string, restarts: number, delayMs: number): void;
  /** It crashed too often (a crash loop): it stays down. */
  gaveUp(name: string, exit: string, crashes: number, windowMs: number): void;
}

export interface Supervised {
  readonly name: string;
  /** The child running now (the latest one after restarts). */
  readonly current: Child;
  /** Restarts so far. */
  readonly restarts: number;
  /** False once it gave up on a crash loop. */
  readonly running: boolean;
  /** Stops supervising (no more restarts) and stops the child. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Runs `spec()` as a child and restarts it whenever it exits unasked, per
 * `policy`. `spec` is called at each start, so a restart can use what the
 * first run settled (the ports it picked). `onStart` runs for every new
 * child (to wait for its IPC messages, say).
 */
export function supervise(
  spec: () => ChildSpec,
  events: SupervisionEvents,
  policy: RestartPolicy = defaultRestartPolicy,
  output: 'inherit' | 'ignore' | 'pipe' = 'inherit',
  onStart: (child: Child, restarts: number) => void = () => {},
): Supervised {
  let stopped = false;
  let gaveUp = false;
  let restarts = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Crash times within the window, oldest first: bounded by maxRestarts + 1.
  const crashes: number[] = [];
  let current: Child;
  const start = () => {
    const s = spec();
    current = startChild(s, output);
    events.started(s.name, current.process.pid, restarts);
    onStart(current, restarts);
    const child = current;
    child.process.once('exit', (code, signal) => {
      if (stopped || child !== current) return;
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && now - crashes[0]! > policy.windowMs) crashes.shift();
      const exit = signal ? `signal ${signal}` : `code ${code}`;
      if (crashes.length > policy.maxRestarts) {
        gaveUp = true;
        events.gaveUp(s.name, exit, crashes.length, policy.windowMs);
        return;
      }
      const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(policy.multiplier, crashes.length - 1));
      restarts++;
      events.restarting(s.name, exit, restarts, delayMs);
      timer = setTimeout(start, delayMs);
    });
  };
  start();
  return {
    name: spec().name,
    get current() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    get running() {
      return !gaveUp;
    },
    async stop(graceMs) {
      stopped = true;
      clearTimeout(timer);
      await current.stop(graceMs);
    },
  };
}
