/**
 * Keeps one connection up: when it drops, reconnects with exponential backoff
 * and full jitter. Bounded: at most `maxAttempts` consecutive failures
 * (default unbounded, at most one attempt per `maxDelayMs` once backed off),
 * then `failed` fires and it stops. A refused SETUP (INVALID_SETUP,
 * UNSUPPORTED_SETUP, REJECTED_SETUP) is permanent: retrying cannot fix it.
 * UNAUTHENTICATED is permanent for a fixed token (the same token would be
 * refused again) and retried with backoff when a token provider is
 * configured, since it may hand out a new token (rotated, re-issued).
 * While disconnected nothing is queued: requests fail fast with UNAVAILABLE.
 * Only a request that was already sent when its connection was lost, and
 * that its caller marked idempotent, may wait for the next connection
 * (`nextConnection`): a bounded wait, by a bounded number of waiters.
 */
import { SluiceError } from '../errors.js';
import { backoffDelay, defaultBackoff, type BackoffOptions } from '../resilience/backoff.js';
import { nextRetry } from '../resilience/retry.js';
import type { Connection } from '../rsocket/connection.js';
import { silentLogger, type Logger } from '../observability/log.js';

export interface ReconnectOptions extends BackoffOptions {
  /** Consecutive failed attempts before giving up. Default Infinity (a service should outlive gateway restarts). */
  maxAttempts: number;
}

export const defaultReconnect: ReconnectOptions = { ...defaultBackoff, maxAttempts: Infinity };

export interface ReconnectEvents {
  connected(conn: Connection): void;
  disconnected(error: SluiceError | undefined): void;
  failed(error: SluiceError): void;
}

const PERMANENT = new Set(['INVALID_SETUP', 'UNSUPPORTED_SETUP', 'REJECTED_SETUP']);

/** Most callers waiting for the next connection at once; more are refused with OVERLOADED (a lost connection held at most this many requests by default). */
export const MAX_CONNECTION_WAITERS = 4096;

interface Waiter {
  resolve(conn: Connection): void;
  reject(error: SluiceError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ReconnectCredentials {
  /** True when each attempt may present a new credential (a token provider): UNAUTHENTICATED is then retried. Default false. */
  renewable: boolean;
}

export class Reconnector {
  private conn: Connection | undefined;
  private stopped = false;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private first: { resolve: (c: Connection) => void; reject: (e: SluiceError) => void } | undefined;
  private readonly options: ReconnectOptions;
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly open: () => Promise<Connection>,
    options: Partial<ReconnectOptions> = {},
    private readonly events: Partial<ReconnectEvents> = {},
    private readonly log: Logger = silentLogger,
    private readonly credentials: ReconnectCredentials = { renewable: false },
  ) {
    this.options = { ...defaultReconnect, ...options };
  }

  /** Connects; resolves with the first connection, rejects if it gives up first. */
  start(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      void this.attempt();
    });
  }

  get current(): Connection | undefined {
    return this.conn?.isOpen ? this.conn : undefined;
  }

  /**
   * The open connection, or the next one made within `timeoutMs`. Rejects
   * with UNAVAILABLE when none comes in time or reconnecting stops, and with
   * OVERLOADED when MAX_CONNECTION_WAITERS callers already wait.
   */
  nextConnection(timeoutMs: number): Promise<Connection> {
    const open = this.current;
    if (open) return Promise.resolve(open);
    if (this.stopped) return Promise.reject(new SluiceError('UNAVAILABLE', 'not reconnecting'));
    if (this.waiters.size >= MAX_CONNECTION_WAITERS) {
      return Promise.reject(new SluiceError('OVERLOADED', `${MAX_CONNECTION_WAITERS} requests already wait for a connection`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new SluiceError('UNAVAILABLE', `no connection to a gateway within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Stops reconnecting and closes the current connection. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.conn?.close();
    this.conn = undefined;
    this.first?.reject(new SluiceError('UNAVAILABLE', 'closed before connecting'));
    this.first = undefined;
    this.settleWaiters(new SluiceError('UNAVAILABLE', 'the client was closed'));
  }

  private settleWaiters(outcome: Connection | SluiceError): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) {
      clearTimeout(w.timer);
      if (outcome instanceof SluiceError) w.reject(outcome);
      else w.resolve(outcome);
    }
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    let conn: Connection;
    try {
      conn = await this.open();
    } catch (err) {
      // Closed meanwhile: the failure is moot, and a retry timer would keep the process alive.
      if (!this.stopped) this.onFailure(SluiceError.from(err));
      return;
    }
    if (this.stopped) {
      conn.close();
      return;
    }
    this.failures = 0;
    this.conn = conn;
    conn.onClose((error) => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      this.events.disconnected?.(error);
      if (!this.stopped) this.schedule(backoffDelay(0, this.options));
    });
    this.first?.resolve(conn);
    this.first = undefined;
    this.events.connected?.(conn);
    this.settleWaiters(conn);
  }

  private onFailure(error: SluiceError): void {
    this.failures++;
    const permanent = PERMANENT.has(error.code) || (error.code === 'UNAUTHENTICATED' && !this.credentials.renewable);
    // The backoff step is the failure count: a drop's first reconnect already used step 0.
    const verdict = permanent ? undefined : nextRetry(this.failures, this.options, { step: this.failures });
    if (!verdict?.retry) {
      this.stopped = true;
      this.log.error({ code: error.code, reason: error.message, attempts: this.failures }, 'giving up connecting');
      this.first?.reject(error);
      this.first = undefined;
      this.events.failed?.(error);
      this.settleWaiters(error);
      return;
    }
    this.log.warn({ code: error.code, reason: error.message, attempt: this.failures }, 'connect failed, retrying');
    this.schedule(verdict.delayMs);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.attempt(), delayMs);
  }
}
