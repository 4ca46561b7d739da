/**
 * The gateways a client may use, in the order it tries them. A client holds
 * one connection at a time: it starts at one URL of the list (random by
 * default, so a fleet of clients spreads over the gateways) and, when that
 * connection fails or is lost, moves on to the next, wrapping around. The
 * list is fixed for the client's life; it is validated once, here.
 */
import { SluiceError } from '../errors.js';

/** Most gateway URLs one client takes: a fleet is reached through a handful of addresses (or a load balancer), not thousands. */
export const MAX_GATEWAY_URLS = 64;

/** How the first URL is chosen: `random` spreads clients over the fleet, `first` keeps the list's order (a preferred gateway). */
export type FirstUrl = 'random' | 'first';

export class GatewayUrls {
  readonly urls: readonly string[];
  private index: number;

  /** Throws INVALID_ARGUMENT for an empty list, a list over MAX_GATEWAY_URLS, or an entry that is not a non-empty string. */
  constructor(url: string | readonly string[], first: FirstUrl = 'random', random: () => number = Math.random) {
    const urls = typeof url === 'string' ? [url] : [...url];
    if (urls.length === 0) throw new SluiceError('INVALID_ARGUMENT', 'url: give at least one gateway URL');
    if (urls.length > MAX_GATEWAY_URLS) throw new SluiceError('INVALID_ARGUMENT', `url: at most ${MAX_GATEWAY_URLS} gateway URLs, got ${urls.length}`);
    urls.forEach((u, i) => {
      if (typeof u !== 'string' || u.length === 0) throw new SluiceError('INVALID_ARGUMENT', `url[${i}] must be a non-empty string, got ${JSON.stringify(u)}`);
    });
    this.urls = urls;
    // `next()` advances before answering, so start one before the chosen URL.
    const start = first === 'first' ? 0 : Math.floor(random() * urls.length) % urls.length;
    this.index = (start + urls.length - 1) % urls.length;
  }

  /** The URL to try now: the one after the last tried. */
  next(): string {
    this.index = (this.index + 1) % this.urls.length;
    return this.urls[this.index]!;
  }
}
