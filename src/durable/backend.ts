/**
 * Picks the durable backend from the gateway config: NATS JetStream when
 * `nats.servers` lists any server, the embedded segment log otherwise. The
 * JetStream client is loaded only then, so a gateway without NATS never
 * pulls it in.
 */
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../observability/log.js';
import { openEmbeddedBackend } from './embedded-queue.js';
import type { DurableBackend } from './queue.js';

export async function openDurableBackend(config: Pick<GatewayConfig, 'durable' | 'nats'>, log: Logger): Promise<DurableBackend> {
  if (config.nats.servers.length > 0) {
    const { openJetStreamBackend } = await import('./jetstream-queue.js');
    const backend = await openJetStreamBackend(config.nats, log);
    log.info({ servers: config.nats.servers, replicas: config.nats.replicas }, 'durable routes on NATS JetStream');
    return backend;
  }
  const backend = await openEmbeddedBackend({ dir: config.durable.dir, segmentBytes: config.durable.segmentBytes });
  log.info({ dir: config.durable.dir }, 'durable routes on the embedded log');
  return backend;
}
