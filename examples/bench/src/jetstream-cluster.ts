/**
 * NATS servers with JetStream on loopback, for the durable-route tests and
 * the durable bench: one node, or a cluster of three whose routes name each
 * other (server_name, jetstream { store_dir }, cluster { name, listen,
 * routes }). Ports come from freePort; stores live in a temporary directory
 * removed by `stop`. Start-up resolves once JetStream answers API calls (a
 * cluster has elected its meta leader), so callers wait on that, not on a
 * time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort } from './processes.js';
import { NATS_BINARY, NATS_INSTALL_HINT, natsServerVersion, waitForPort } from './nats-server.js';

export interface JetStreamNode {
  readonly name: string;
  readonly url: string;
  readonly process: ChildProcess;
  /** kill -9; resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface JetStreamCluster {
  readonly nodes: readonly JetStreamNode[];
  /** Every node's client URL. */
  readonly servers: string[];
  readonly version: string;
  stop(): Promise<void>;
}

/** Starts `size` JetStream nodes (1, or 3 for a cluster) and resolves once JetStream answers. Throws when nats-server is missing. */
export async function startJetStream(size: 1 | 3 = 1): Promise<JetStreamCluster> {
  const version = natsServerVersion();
  if (!version) throw new Error(`${NATS_BINARY} not found: ${NATS_INSTALL_HINT}`);
  const dir = await mkdtemp(join(tmpdir(), 'sluice-jetstream-'));
  const ports: Array<{ client: number; cluster: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), cluster: await freePort() });
  const nodes: JetStreamNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, p] of ports.entries()) {
      const name = `n${i + 1}`;
      const others = ports.filter((o) => o !== p).map((o) => `nats-route://127.0.0.1:${o.cluster}`);
      const conf = [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `jetstream { store_dir: ${JSON.stringify(join(dir, name))} }`,
        ...(size > 1 ? [`cluster { name: sluice, listen: 127.0.0.1:${p.cluster}, routes: [${others.join(', ')}] }`] : []),
      ].join('\n');
      const file = join(dir, `${name}.conf`);
      await writeFile(file, conf);
      const proc = spawn(NATS_BINARY, ['-c', file], { stdio: ['ignore', 'ignore', 'ignore'] });
      const exited = new Promise<void>((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', () => resolve())));
      nodes.push({
        name,
        url: `nats://127.0.0.1:${p.client}`,
        process: proc,
        async kill() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
          await exited;
        },
      });
    }
    await Promise.all(nodes.map((n, i) => waitForPort(ports[i]!.client, 15_000, () => n.process.exitCode !== null)));
    await jetStreamReady(nodes.map((n) => n.url), 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, servers: nodes.map((n) => n.url), version, stop };
}

/** Resolves once a JetStream API call succeeds through `servers` (a cluster answers only with a meta leader). */
async function jetStreamReady(servers: string[], timeoutMs: number): Promise<void> {
  const nc = await connect({ servers, maxReconnectAttempts: -1 });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`JetStream not ready within ${timeoutMs} ms: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await nc.close();
  }
}
