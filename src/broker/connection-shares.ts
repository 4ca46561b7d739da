/**
 * Who may hold the gateway's connection slots once SETUP says what a
 * connection is. Services (a SETUP that registers) may use every slot;
 * clients (a SETUP that registers nothing) only `maxConnections - reserve`,
 * so however many clients connect, services can still register. Clients
 * also may not sit on a slot doing nothing: they get an idle timeout and a
 * shorter keepalive lifetime.
 */
import { SluiceError } from '../errors.js';
import type { Connection } from '../rsocket/connection.js';

export interface ConnectionShareOptions {
  /** limits.maxConnections. */
  maxConnections: number;
  /** Slots only services may use (from limits.serviceReserveRatio). */
  reservedForServices: number;
  /** limits.idleTimeoutMs: a client with nothing open this long is closed; 0 never. */
  idleTimeoutMs: number;
  /** keepAlive.maxClientLifetimeMs: a client's keepalive lifetime is at most this. */
  maxClientLifetimeMs: number;
}

export class ConnectionShares {
  private clients = 0;

  constructor(
    private readonly options: ConnectionShareOptions,
    /** Told of each refusal (metrics, log). */
    private readonly refused: (detail: { clients: number; share: number }) => void = () => {},
  ) {}

  /** Client connections past SETUP, open now. */
  get openClients(): number {
    return this.clients;
  }

  /** Connections clients may hold at once. */
  get clientShare(): number {
    return this.options.maxConnections - this.options.reservedForServices;
  }

  /**
   * Called from accept() once SETUP says whether `conn` registers. A client
   * beyond its share is refused with OVERLOADED (sent as REJECTED_SETUP
   * 0x003; clients retry it with backoff); an admitted one gets the client limits and is counted until it
   * closes. Services pass through.
   */
  admit(conn: Connection, registers: boolean): void {
    if (registers) return;
    const share = this.clientShare;
    if (this.clients >= share) {
      this.refused({ clients: this.clients, share });
      throw new SluiceError(
        'OVERLOADED',
        `the gateway is full for clients (${this.clients} client connections, the most it takes; ${this.options.reservedForServices} more are kept for services); retry later`,
      );
    }
    this.clients++;
    conn.onClose(() => this.clients--);
    conn.limitIdle({ idleTimeoutMs: this.options.idleTimeoutMs, maxLifetimeMs: this.options.maxClientLifetimeMs });
  }
}
