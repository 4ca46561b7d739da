/**
 * Which web pages may open a browser WebSocket to the gateway. A browser
 * sends the page's origin with every WebSocket upgrade and lets any page
 * connect anywhere, so without this check any site a user visits could call
 * the gateway from the user's machine. Non-browser clients send no Origin and
 * are not concerned: this guards browsers, it authenticates nobody.
 */

/** Host names that reach the loopback interface, as browsers write them in an origin. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export interface OriginPolicy {
  /** True when a browser page of `origin` may connect; undefined (no Origin header) always may. */
  allows(origin: string | undefined): boolean;
  /** The origins allowed, normalised, for logs; `['*']` when any is. */
  readonly allowed: readonly string[];
}

/**
 * The policy: the admin server's own origin (and its loopback equivalents
 * when it listens on loopback or on every interface, so the dashboard loaded
 * as `localhost` works as well as `127.0.0.1`) plus `configured`; `'*'` in
 * `configured` allows every origin.
 *
 * @param configured origins from `listen.allowedOrigins` (validated by config)
 * @param adminUrl the admin server's URL, e.g. `http://127.0.0.1:7879`; undefined when it does not run
 */
export function originPolicy(configured: readonly string[], adminUrl: string | undefined): OriginPolicy {
  if (configured.includes('*')) return { allows: () => true, allowed: ['*'] };
  const allowed = new Set(configured.map(normalise));
  if (adminUrl) for (const o of adminOrigins(adminUrl)) allowed.add(o);
  return {
    allows: (origin) => origin === undefined || allowed.has(normalise(origin)),
    allowed: [...allowed],
  };
}

/** The origins a browser reports for pages of the admin server at `adminUrl`. */
export function adminOrigins(adminUrl: string): string[] {
  const u = new URL(adminUrl);
  const host = u.hostname;
  const reachableAsLoopback = LOOPBACK_NAMES.includes(host) || host.startsWith('127.') || host === '0.0.0.0' || host === '[::]';
  const hosts = reachableAsLoopback ? [...new Set([...(host === '0.0.0.0' || host === '[::]' ? [] : [host]), ...LOOPBACK_NAMES])] : [host];
  return hosts.map((h) => normalise(`${u.protocol}//${h}${u.port ? `:${u.port}` : ''}`));
}

/** The serialised origin (lower-case host, default port dropped), or the input when it is not a URL (`null`, garbage: never allowed). */
function normalise(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return `invalid:${origin}`;
  }
}
