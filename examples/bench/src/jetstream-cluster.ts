/**
 * NATS servers with JetStream on loopback, for the durable bench and every
 * test that needs a real NATS (durable routes, the fleet, the shared rate
 * limits): one node, or a cluster of three whose routes name each other.
 * Ports come from freePort; stores live in a temporary directory removed by
 * `stop`. Start-up resolves once every node's monitoring /healthz answers 200,
 * a cluster's nodes all know their JetStream meta leader with its peers
 * current (streams can be placed on three nodes), and a JetStream API call
 * succeeds, so callers wait on that, not on a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort } from './free-port.js';
import { NATS_BINARY, NATS_INSTALL_HINT, natsServerVersion } from './nats-server.js';

export interface JetStreamNode {
  readonly name: string;
  /** `nats://127.0.0.1:<port>` */
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

export interface JetStreamOptions {
  /** Each node's JetStream `max_memory_store` (e.g. `64MB`); default the server's (a share of the machine's memory). */
  readonly maxMemoryStore?: string;
  /** Each node's JetStream `max_file_store` (e.g. `256MB`); default the server's (a share of the disk). */
  readonly maxFileStore?: string;
}

/** Ms a node has to answer /healthz, and a cluster to elect its meta leader. */
const HEALTHY_TIMEOUT_MS = 20_000;
const LEADER_TIMEOUT_MS = 30_000;

/** Start-ups tried when a port picked free was taken before nats-server bound it. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Starts `size` JetStream nodes (1, or 3 for a cluster) and resolves once JetStream answers. Throws when nats-server is missing.
 * A port is free when picked but may be taken before nats-server binds it (another process's connection, a test
 * running beside this one): a node that exits with "address already in use" starts the set again on new ports,
 * a bounded number of times.
 */
export async function startJetStream(size: 1 | 3 = 1, options: JetStreamOptions = {}): Promise<JetStreamCluster> {
  const version = natsServerVersion();
  if (!version) throw new Error(`${NATS_BINARY} not found: ${NATS_INSTALL_HINT}`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(size, options, version);
    } catch (err) {
      if (attempt >= PORT_RACE_ATTEMPTS || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(size: 1 | 3, options: JetStreamOptions, version: string): Promise<JetStreamCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-nats-'));
  const ports: Array<{ client: number; cluster: number; monitor: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), cluster: await freePort(), monitor: await freePort() });
  const nodes: Array<JetStreamNode & { tail(): string }> = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, p] of ports.entries()) {
      const name = `n${i + 1}`;
      const routes = ports.map((q) => `nats-route://127.0.0.1:${q.cluster}`);
      const store = [
        `store_dir: ${JSON.stringify(join(dir, name))}`,
        ...(options.maxMemoryStore ? [`max_memory_store: ${options.maxMemoryStore}`] : []),
        ...(options.maxFileStore ? [`max_file_store: ${options.maxFileStore}`] : []),
      ];
      const conf = [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `http: 127.0.0.1:${p.monitor}`,
        `jetstream { ${store.join(', ')} }`,
        ...(size > 1 ? [`cluster { name: sluice, listen: 127.0.0.1:${p.cluster}, routes: [${routes.join(', ')}] }`] : []),
      ].join('\n');
      const file = join(dir, `${name}.conf`);
      await writeFile(file, conf);
      nodes.push(startNode(name, file, p.client));
    }
    await Promise.all(nodes.map((n, i) => waitHealthy(ports[i]!.monitor, n)));
    // /healthz can answer before a clustered JetStream elected its meta leader: wait for every node to know it, and its peers to be current.
    if (size > 1) await Promise.all(nodes.map((n, i) => waitMetaLeader(ports[i]!.monitor, n)));
    await jetStreamReady(nodes.map((n) => n.url), LEADER_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, servers: nodes.map((n) => n.url), version, stop };
}

function startNode(name: string, conf: string, port: number): JetStreamNode & { tail(): string } {
  const proc = spawn(NATS_BINARY, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Only the tail, for an error message.
  let tail = '';
  proc.stderr?.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-2000)));
  const exited = new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
  return {
    name,
    url: `nats://127.0.0.1:${port}`,
    process: proc,
    tail: () => tail,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls the node's /healthz every 100 ms (bounded); fails at once when the process exits. */
async function waitHealthy(monitorPort: number, node: JetStreamNode & { tail(): string }): Promise<void> {
  const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (node.process.exitCode !== null) throw new Error(`${node.name} exited: ${node.tail()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${node.name} not healthy within ${HEALTHY_TIMEOUT_MS} ms (last: ${last.trim()})`);
}

/** Polls the node's /jsz every 100 ms (bounded) until it names the JetStream meta leader and, on the leader, every peer is current. */
async function waitMetaLeader(monitorPort: number, node: JetStreamNode): Promise<void> {
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (node.process.exitCode !== null) throw new Error(`${node.name} exited`);
    try {
      const jsz = (await (await fetch(`http://127.0.0.1:${monitorPort}/jsz`)).json()) as { meta_cluster?: { leader?: string; replicas?: Array<{ current?: boolean }> } };
      const meta = jsz.meta_cluster;
      // A leader, and (seen from the leader) both other peers current: streams can be placed on three nodes.
      if (meta?.leader && (meta.replicas === undefined || (meta.replicas.length === 2 && meta.replicas.every((r) => r.current)))) return;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${node.name}: no JetStream meta leader within ${LEADER_TIMEOUT_MS} ms`);
}

/** Resolves once a JetStream API call succeeds through `servers`, retried every 100 ms for at most `timeoutMs`. */
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
