/**
 * The processes a benchmark runs against: a gateway, bench services and
 * baseline peers, each its own child process (as in production), all on
 * loopback with ports picked by the OS, and a `Processes` group that stops
 * them all (services first, so the gateway sees them leave, then the gateway).
 */
import { CHECKOUT, SLUICE, exampleProgram, startChild, type Child } from '../../checkout/src/supervisor.js';

/** `sluice-bench <command>`: bench, bench-peer. */
export const BENCH = exampleProgram('bench');

/** The checkout services run from the checkout example's CLI; the bench service is the product's. */
const CHECKOUT_SERVICES = new Set(['order', 'payment', 'inventory']);

/** Ms to wait for a child to report it is up. */
const START_TIMEOUT_MS = 30_000;

export interface GatewayProcess {
  readonly child: Child;
  readonly url: string;
  readonly adminUrl: string;
}

export class Processes {
  private readonly children: Child[] = [];
  /** Children asked to stop: their exit is no failure. */
  private readonly stopping = new WeakSet<Child>();

  /** A gateway on free loopback ports, logging warnings only; `nodeArgs` go to node before the program (--cpu-prof). */
  async gateway(extraArgs: readonly string[] = [], nodeArgs: readonly string[] = []): Promise<GatewayProcess> {
    const program = nodeArgs.length ? { program: [...nodeArgs, ...SLUICE] } : {};
    const child = this.track(startChild({ name: 'gateway', ...program, args: ['gateway', '--port', '0', '--admin-port', '0', ...extraArgs], env: { SLUICE_LOG_LEVEL: 'warn' } }, 'inherit'));
    const { url, adminUrl } = await child.message<{ url: string; adminUrl: string }>('listening', START_TIMEOUT_MS);
    return { child, url, adminUrl };
  }

  /**
   * A built-in service (`sluice service bench`, or `sluice-checkout service <name>`, [...extra]) registered with
   * the gateway (or direct server) at `url`; `env` carries what argv must not
   * (SLUICE_TOKEN).
   */
  async service(name: string, url: string, instance?: string, extra: readonly string[] = [], env: Readonly<Record<string, string>> = {}, nodeArgs: readonly string[] = []): Promise<Child> {
    const args = ['service', name, '--url', url, ...(instance ? ['--instance', instance] : []), ...extra];
    // 'error': a service logs its own disconnection at warn when the bench stops it, which is noise here.
    const program = { program: [...nodeArgs, ...(CHECKOUT_SERVICES.has(name) ? CHECKOUT : SLUICE)] };
    const child = this.track(startChild({ name: instance ?? name, ...program, args, env: { SLUICE_LOG_LEVEL: 'error', ...env } }, 'inherit'));
    await child.message('registered', START_TIMEOUT_MS);
    return child;
  }

  /**
   * A baseline peer (`sluice-bench bench-peer <kind>`); resolves once it reports `ready` (default
   * `listening`), with the URL it listens on, if any. A peer that reports `failed` first rejects.
   * `failure` rejects whenever the peer later reports `failed` or exits unasked, with the
   * cause: a step waiting on the peer races it, so a refusal or crash ends the step at once.
   */
  async peer(kind: string, args: readonly string[] = [], ready = 'listening', timeoutMs = START_TIMEOUT_MS): Promise<{ child: Child; url: string; failure: Promise<never> }> {
    const child = this.track(startChild({ name: kind, program: BENCH, args: ['bench-peer', kind, ...args], env: { SLUICE_LOG_LEVEL: 'warn' } }, 'inherit'));
    const failure = this.failure(child);
    const { url } = await Promise.race([child.message<{ url: string }>(ready, timeoutMs), failure]);
    return { child, url, failure };
  }

  /**
   * Rejects when `child` reports `failed` over IPC (with its `error`) or exits
   * before it was asked to stop; never resolves. Rejections nobody awaits are
   * not unhandled.
   */
  failure(child: Child): Promise<never> {
    const failure = new Promise<never>((_, reject) => {
      const onMessage = (m: unknown) => {
        if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'failed') reject(new Error(`${child.name}: ${String((m as { error?: unknown }).error)}`));
      };
      child.process.on('message', onMessage);
      child.process.once('exit', (code, signal) => {
        child.process.off('message', onMessage);
        if (!this.stopping.has(child)) reject(new Error(`${child.name} (pid ${child.process.pid}) exited unasked (${signal ? `signal ${signal}` : `code ${code}`})`));
      });
    });
    failure.catch(() => undefined);
    return failure;
  }

  /** Stops one child now (and forgets it). */
  async stop(child: Child, graceMs = 5_000): Promise<void> {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    this.stopping.add(child);
    await child.stop(graceMs);
  }

  /** Stops every child, most recently started first (services before the gateway they use). */
  async stopAll(graceMs = 5_000): Promise<void> {
    const all = this.children.splice(0).reverse();
    for (const c of all) {
      this.stopping.add(c);
      await c.stop(graceMs);
    }
  }

  private track(child: Child): Child {
    this.children.push(child);
    return child;
  }
}

/** The geometric mean: the average of ratios in which a factor on one and its inverse on another cancel. */
export function geometricMean(xs: readonly number[]): number {
  return Math.exp(xs.reduce((sum, x) => sum + Math.log(x), 0) / xs.length);
}

/** Median of a non-empty list (of an even count, the mean of the middle two). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** `p`, or a rejection naming `what` after `ms`. The timer is cleared either way. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}
