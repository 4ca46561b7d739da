/**
 * Real NATS servers for tests: one JetStream server, or a 3-node JetStream
 * cluster, on 127.0.0.1 with free ports and their stores (bounded: 64 MB in
 * memory, 256 MB on disk per node) in a temporary directory, all removed by
 * `stop()`. Started by the bench's JetStream starter, which the durable tests
 * use too, so every test and the bench wait for the same readiness. Without
 * the nats-server binary, `requireNatsServer` throws under CI=true (a missing
 * dependency is a failure there) and says why elsewhere.
 */
import { startJetStream, type JetStreamCluster, type JetStreamNode } from '../../examples/bench/src/jetstream-cluster.js';
import { NATS_BINARY, natsServerVersion } from '../../examples/bench/src/nats-server.js';

export type NatsNode = JetStreamNode;
export type NatsCluster = JetStreamCluster;

const STORE_LIMITS = { maxMemoryStore: '64MB', maxFileStore: '256MB' };

/** True when nats-server runs here. */
export function natsServerAvailable(): boolean {
  return natsServerVersion() !== undefined;
}

/**
 * Whether the NATS tests run: true when the binary is there; under CI a
 * missing binary throws (fail, never skip); elsewhere false, and the caller
 * skips with the reason in its name.
 */
export function requireNatsServer(): boolean {
  if (natsServerAvailable()) return true;
  if (process.env.CI === 'true') throw new Error(`${NATS_BINARY} not found: CI installs it (scripts/ci-apt.sh); the NATS tests cannot be skipped there`);
  return false;
}

/** One JetStream server. */
export function startNatsServer(): Promise<NatsCluster> {
  return startJetStream(1, STORE_LIMITS);
}

/** Three JetStream nodes clustered with each other (routes on loopback). */
export function startNatsCluster(): Promise<NatsCluster> {
  return startJetStream(3, STORE_LIMITS);
}
