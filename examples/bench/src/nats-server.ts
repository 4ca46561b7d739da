/**
 * A NATS server for the comparison: Debian's `nats-server`, started by the
 * bench on 127.0.0.1 with a free port and stopped at the end. It binds
 * 0.0.0.0 by default, hence `-a 127.0.0.1`; monitoring, clustering and
 * JetStream are off by default and stay off (core NATS only). The server's
 * other defaults stand (1 MB max payload, 64 MB pending per client before it
 * is cut off as a slow consumer).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { freePort } from './free-port.js';

/** The nats-server binary: env NATS_SERVER_BIN, default `nats-server` from PATH. */
export const NATS_BINARY = process.env.NATS_SERVER_BIN ?? 'nats-server';
export const NATS_INSTALL_HINT = 'install it with `apt-get install nats-server` (Debian/Ubuntu) to include the NATS comparison';

export interface NatsServer {
  readonly url: string;
  readonly version: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** The server's version line, or undefined when the binary is not installed. */
export function natsServerVersion(): string | undefined {
  const r = spawnSync(NATS_BINARY, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.trim();
}

export async function startNatsServer(): Promise<NatsServer> {
  const version = natsServerVersion();
  if (!version) throw new Error(`${NATS_BINARY} not found: ${NATS_INSTALL_HINT}`);
  const port = await freePort();
  const proc: ChildProcess = spawn(NATS_BINARY, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (c: Buffer) => {
    // Keep only the tail, for an error message.
    log = (log + c.toString('utf8')).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForPort(port, 10_000, () => proc.exitCode !== null);
  } catch (err) {
    await stop();
    throw new Error(`${NATS_BINARY} did not start: ${(err as Error).message}\n${log}`);
  }
  return { url: `nats://127.0.0.1:${port}`, version, pid: proc.pid, stop };
}

export async function waitForPort(port: number, timeoutMs: number, died: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died()) throw new Error('the process exited');
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not open within ${timeoutMs} ms`);
}
