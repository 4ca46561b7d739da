/**
 * Connections the gateway turned away, by reason: counted for Prometheus
 * (`sluice_connections_refused_total{reason}`) and logged at most once per
 * reason per interval, since a flood of refusals is exactly when a line per
 * refusal would hurt.
 */
import client from 'prom-client';
import type { Logger } from './log.js';
import { RateLimitedLog } from './rate-limited-log.js';

/**
 * - `max_connections`: limits.maxConnections reached (HTTP 503 / TCP closed)
 * - `per_address`: the remote address holds limits.maxConnectionsPerAddress (HTTP 503 / TCP closed)
 * - `origin`: a browser page from an origin not allowed (HTTP 403)
 * - `client_share`: a SETUP registering nothing while clients hold their whole share (REJECTED_SETUP)
 */
export type RefusalReason = 'max_connections' | 'per_address' | 'origin' | 'client_share';

export class ConnectionRefusals {
  private readonly counter: client.Counter<'reason'>;
  private readonly log: RateLimitedLog;

  constructor(registry: client.Registry, log: Logger, logIntervalMs?: number) {
    this.counter = new client.Counter({
      name: 'sluice_connections_refused_total',
      help: 'Connections refused, by reason: max_connections, per_address, origin, client_share',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of ['max_connections', 'per_address', 'origin', 'client_share'] as const) this.counter.inc({ reason }, 0);
    this.log = new RateLimitedLog(log, logIntervalMs);
  }

  /** Counts one refusal and logs it (rate-limited) with `detail` (remote address, origin, counts). */
  refuse(reason: RefusalReason, detail: Record<string, unknown>, message: string): void {
    this.counter.inc({ reason });
    this.log.warn(reason, { reason, ...detail }, message);
  }
}
