/**
 * Real NATS servers for tests: one JetStream server, or a 3-node JetStream
 * cluster, on 127.0.0.1 with free ports and their stores in a temporary
 * directory, all removed by `stop()`. Ready means each node's monitoring
 * /healthz answers 200 (JetStream up, and in a cluster a meta leader
 * elected). Without the nats-server binary, `requireNatsServer` throws under
 * CI=true (a missing dependency is a failure there) and says why elsewhere.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

const BINARY = process.env.NATS_SERVER_BIN ?? 'nats-server';

/** True when nats-server runs here. */
export function natsServerAvailable(): boolean {
  const r = spawnSync(BINARY, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return !r.error && r.status === 0;
}

/**
 * Whether the NATS tests run: true when the binary is there; under CI a
 * missing binary throws (fail, never skip); elsewhere false, and the caller
 * skips with the reason in its name.
 */
export function requireNatsServer(): boolean {
  if (natsServerAvailable()) return true;
  if (process.env.CI === 'true') throw new Error(`${BINARY} not found: CI installs it (scripts/ci-apt.sh); the NATS tests cannot be skipped there`);
  return false;
}

export interface NatsNode {
  readonly name: string;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly process: ChildProcess;
  /** SIGKILL, resolves when it exited. */
  kill(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL. */
  readonly servers: string[];
  stop(): Promise<void>;
}

/** One JetStream server. */
export function startNatsServer(): Promise<NatsCluster> {
  return startNats(1);
}

/** Three JetStream nodes clustered with each other (routes on loopback). */
export function startNatsCluster(): Promise<NatsCluster> {
  return startNats(3);
}

async function startNats(size: 1 | 3): Promise<NatsCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-nats-'));
  const ports = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), cluster: await freePort(), monitor: await freePort() });
  const nodes: NatsNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      const p = ports[i]!;
      const name = `n${i + 1}`;
      const cluster =
        size === 1
          ? ''
          : `cluster { name: sluice-test\n  listen: 127.0.0.1:${p.cluster}\n  routes: [${ports.map((q) => `nats-route://127.0.0.1:${q.cluster}`).join(', ')}]\n}\n`;
      const conf = join(dir, `${name}.conf`);
      await writeFile(
        conf,
        `server_name: ${name}\nlisten: 127.0.0.1:${p.client}\nhttp: 127.0.0.1:${p.monitor}\njetstream { store_dir: "${join(dir, name)}"\n  max_memory_store: 64MB\n  max_file_store: 256MB\n}\n${cluster}`,
      );
      nodes.push(startNode(name, conf, p.client));
    }
    await Promise.all(ports.map((p, i) => waitHealthy(p.monitor, nodes[i]!, 20_000)));
    // /healthz can answer before a clustered JetStream elected its meta leader: wait for every node to know it, and its peers to be current.
    if (size > 1) await Promise.all(ports.map((p, i) => waitMetaLeader(p.monitor, nodes[i]!, 30_000)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, servers: nodes.map((n) => n.url), stop };
}

function startNode(name: string, conf: string, port: number): NatsNode {
  const proc = spawn(BINARY, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  proc.stderr?.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-2000)));
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  (proc as ChildProcess & { tail: () => string }).tail = () => tail;
  return {
    name,
    url: `nats://127.0.0.1:${port}`,
    process: proc,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls the node's /healthz (bounded); fails at once when the process exits. */
async function waitHealthy(monitorPort: number, node: NatsNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (node.process.exitCode !== null) throw new Error(`${node.name} exited: ${(node.process as ChildProcess & { tail: () => string }).tail()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${node.name} not healthy within ${timeoutMs} ms (last: ${last.trim()})`);
}

/** Polls the node's /jsz (bounded) until it names the JetStream meta leader and, on the leader, every peer is current. */
async function waitMetaLeader(monitorPort: number, node: NatsNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
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
  throw new Error(`${node.name}: no JetStream meta leader within ${timeoutMs} ms`);
}

/** A port free on 127.0.0.1 now (the OS picks it; closed before use). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
