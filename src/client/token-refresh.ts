/**
 * Keeps a live connection's credential fresh: before the token presented at
 * SETUP expires, asks the provider for the next one and sends it to the
 * gateway by METADATA_PUSH (a composite metadata with one bearer entry).
 * One timer per connection, gone when the connection closes.
 *
 * Bounded: a provider that fails, or returns a token expiring no later than
 * the current one, is asked again after half the remaining lifetime (at
 * least `minDelayMs`), and no more once the current token has expired; the
 * gateway then ends the connection and the reconnect path asks the provider
 * afresh. Isomorphic.
 */
import { SluiceError } from '../errors.js';
import { silentLogger, type Logger } from '../observability/log.js';
import { setLongTimeout } from '../resilience/long-timeout.js';
import { refreshMetadata, resolveToken, tokenExpiry, type TokenProvider } from './token.js';

export interface TokenRefreshOptions {
  /** Share of the remaining lifetime after which the token is refreshed, in (0, 1). Default 0.8. */
  at: number;
  /** Refresh at least this many ms before expiry (at most half the remaining lifetime, so short tokens still get one). Default 5000. */
  minLeadMs: number;
  /** Shortest wait between two refresh attempts, in ms: a provider handing out nearly expired tokens cannot spin. Default 1000. */
  minDelayMs: number;
}

export const defaultTokenRefresh: TokenRefreshOptions = { at: 0.8, minLeadMs: 5_000, minDelayMs: 1_000 };

/** Defaults merged and every value checked; throws INVALID_ARGUMENT naming the option. */
export function resolveTokenRefresh(options: Partial<TokenRefreshOptions> = {}): TokenRefreshOptions {
  const o = { ...defaultTokenRefresh, ...options };
  const bad = (key: string, range: string, v: number) => new SluiceError('INVALID_ARGUMENT', `tokenRefresh.${key} must be ${range}, got ${v}`);
  if (!(o.at > 0 && o.at < 1)) throw bad('at', 'a number between 0 and 1 (exclusive)', o.at);
  if (!(Number.isFinite(o.minLeadMs) && o.minLeadMs >= 0 && o.minLeadMs <= 86_400_000)) throw bad('minLeadMs', 'from 0 to 86400000 ms', o.minLeadMs);
  if (!(Number.isFinite(o.minDelayMs) && o.minDelayMs >= 10 && o.minDelayMs <= 3_600_000)) throw bad('minDelayMs', 'from 10 to 3600000 ms', o.minDelayMs);
  return o;
}

/** Wall-clock time (token `exp` is epoch based), injectable so tests move it by hand. */
export interface RefreshClock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`; rejects when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemRefreshClock: RefreshClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new SluiceError('CANCELED', 'token refresh stopped'));
      const cancel = setLongTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        cancel();
        reject(new SluiceError('CANCELED', 'token refresh stopped'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Ms from `now` until a token expiring at `expiresAt` should be refreshed. */
export function refreshDelay(expiresAt: number, now: number, o: TokenRefreshOptions = defaultTokenRefresh): number {
  const remaining = expiresAt - now;
  const lead = Math.max(remaining * (1 - o.at), Math.min(o.minLeadMs, remaining / 2));
  return Math.max(o.minDelayMs, remaining - lead);
}

/** What the refresher needs of a connection. */
export interface RefreshTarget {
  readonly isOpen: boolean;
  metadataPush(metadata: Uint8Array): void;
  onClose(listener: () => void): () => void;
}

export interface TokenRefresher {
  /** Refreshes sent so far. */
  readonly refreshes: number;
  stop(): void;
}

/**
 * Starts refreshing `target`'s credential (the token it was set up with is
 * `current`); stops by itself when the target closes. A token without `exp`
 * is never refreshed.
 */
export function startTokenRefresh(
  target: RefreshTarget,
  provider: TokenProvider,
  current: string,
  options: Partial<TokenRefreshOptions> = {},
  clock: RefreshClock = systemRefreshClock,
  log: Logger = silentLogger,
): TokenRefresher {
  const o = resolveTokenRefresh(options);
  const abort = new AbortController();
  const state = { refreshes: 0 };
  const unwatch = target.onClose(() => abort.abort());
  const stop = () => {
    abort.abort();
    unwatch();
  };

  const run = async (firstExpiry: number) => {
    let expiresAt = firstExpiry;
    let delay = refreshDelay(expiresAt, clock.now(), o);
    for (;;) {
      try {
        await clock.sleep(delay, abort.signal);
      } catch {
        return;
      }
      if (abort.signal.aborted || !target.isOpen) return;
      let next: { token: string; expiresAt: number | undefined } | undefined;
      try {
        const token = await resolveToken(provider);
        next = { token, expiresAt: tokenExpiry(token) };
      } catch (err) {
        log.warn({ code: SluiceError.from(err).code, reason: (err as Error).message }, 'token provider failed; will ask again');
      }
      if (abort.signal.aborted || !target.isOpen) return;
      if (next && (next.expiresAt === undefined || next.expiresAt > expiresAt)) {
        try {
          target.metadataPush(refreshMetadata(next.token));
        } catch {
          return; // closed meanwhile
        }
        state.refreshes++;
        if (next.expiresAt === undefined) return;
        expiresAt = next.expiresAt;
        delay = refreshDelay(expiresAt, clock.now(), o);
        continue;
      }
      if (next) log.warn({ expiresAt: new Date(next.expiresAt!).toISOString() }, 'token provider returned a token that expires no later than the current one; will ask again');
      const remaining = expiresAt - clock.now();
      if (remaining <= o.minDelayMs) {
        log.error({ expiresAt: new Date(expiresAt).toISOString() }, 'no fresh token before expiry; the gateway will end the connection');
        return;
      }
      delay = Math.max(o.minDelayMs, remaining / 2);
    }
  };

  const first = tokenExpiry(current);
  if (first === undefined) stop();
  else void run(first).finally(unwatch);
  return {
    get refreshes() {
      return state.refreshes;
    },
    stop,
  };
}
