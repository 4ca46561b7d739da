/**
 * A service instance's connections: one per gateway of the fleet, each kept
 * up by its own Reconnector (the same backoff as a single gateway), all
 * registering the same instance and serving through the same responder, so
 * the instance's limits hold over all of them together. The set of
 * gateways is fixed (a URL list) or follows discovery (`set` as gateways
 * join and leave). Calls the service makes itself go out over any open
 * connection, in turn.
 */
import { SluiceError } from '../errors.js';
import type { Connection } from '../rsocket/connection.js';
import type { Reconnector } from '../client/reconnect.js';
import type { Logger } from '../observability/log.js';

/** Most gateways one instance connects to; URLs beyond are ignored (and logged). */
export const MAX_GATEWAY_LINKS = 64;

export interface LinkEvents {
  connected(url: string): void;
  disconnected(url: string, error: SluiceError | undefined): void;
  /** A link gave up for good (a refused registration or credential). */
  failed(url: string, error: SluiceError): void;
}

export class GatewayLinks {
  private readonly links = new Map<string, Reconnector>();
  private turn = 0;
  private closed = false;
  private everConnected = false;
  private first: { resolve(): void; reject(e: SluiceError): void } | undefined;
  readonly ready: Promise<void>;

  constructor(
    private readonly link: (url: string, events: Pick<LinkEvents, 'connected' | 'disconnected'>) => Reconnector,
    private readonly events: LinkEvents,
    private readonly log: Logger,
    private readonly maxLinks = MAX_GATEWAY_LINKS,
  ) {
    this.ready = new Promise((resolve, reject) => (this.first = { resolve, reject }));
  }

  /** Connects to every URL in `urls` not yet linked and closes the links to those no longer in it. */
  set(urls: readonly string[]): void {
    if (this.closed) return;
    const wanted = [...new Set(urls)];
    if (wanted.length > this.maxLinks) {
      this.log.warn({ gateways: wanted.length, max: this.maxLinks, ignored: wanted.slice(this.maxLinks) }, 'more gateways than an instance connects to: the rest are ignored');
    }
    const keep = new Set(wanted.slice(0, this.maxLinks));
    for (const [url, r] of this.links) {
      if (keep.has(url)) continue;
      this.links.delete(url);
      r.close();
      this.log.info({ url }, 'gateway left the fleet: disconnected');
    }
    for (const url of keep) {
      if (this.links.has(url)) continue;
      const r = this.link(url, {
        connected: (u) => {
          this.everConnected = true;
          this.first?.resolve();
          this.first = undefined;
          this.events.connected(u);
        },
        disconnected: (u, e) => this.events.disconnected(u, e),
      });
      this.links.set(url, r);
      r.start().catch((err: unknown) => {
        const e = SluiceError.from(err);
        if (this.links.get(url) !== r) return; // removed meanwhile
        this.events.failed(url, e);
        // Refused before any gateway accepted us: the same registration would be refused by the others too.
        if (!this.everConnected) {
          this.first?.reject(e);
          this.first = undefined;
        }
      });
    }
  }

  /** URLs linked now (connected or reconnecting). */
  get urls(): string[] {
    return [...this.links.keys()];
  }

  /** Gateways connected now. */
  get connectedCount(): number {
    let n = 0;
    for (const r of this.links.values()) if (r.current) n++;
    return n;
  }

  /** An open connection, taken in turn over the connected gateways; undefined when none is. */
  get current(): Connection | undefined {
    const open: Connection[] = [];
    for (const r of this.links.values()) {
      const c = r.current;
      if (c) open.push(c);
    }
    if (open.length === 0) return undefined;
    this.turn = (this.turn + 1) % open.length;
    return open[this.turn];
  }

  close(): void {
    this.closed = true;
    for (const r of this.links.values()) r.close();
    this.links.clear();
    this.first?.reject(new SluiceError('UNAVAILABLE', 'closed before connecting'));
    this.first = undefined;
  }
}
