/** What the three checkout services share: where their data lives and how they connect. */
import { join } from 'node:path';
import type { ReconnectOptions, TokenSource } from 'sluice';
import { connectService, type Service, type ServiceStatusEvents } from 'sluice';
import type { RouteTable } from 'sluice';
import { silentLogger, type Logger } from 'sluice';
import type { GatewayDiscovery } from 'sluice';

/** Default root data directory (relative to the working directory). */
export const DEFAULT_DATA_DIR = './data';

export interface CheckoutServiceOptions {
  /** Gateway URL, e.g. `ws://127.0.0.1:7878`, or every gateway of a fleet (see ServiceOptions.url). */
  url: string | readonly string[];
  /** Where to find the fleet's gateways as they join and leave; see ServiceOptions.discovery. */
  discovery?: GatewayDiscovery;
  /** Root data directory; the service keeps its store in `<dataDir>/<service>`. Default `./data`. */
  dataDir?: string;
  /** Instance id. Default `<service>-1`: one instance per data dir, and a restarted process replaces its predecessor's registration at once. */
  instance?: string;
  logger?: Logger;
  reconnect?: Partial<ReconnectOptions>;
  /** Bearer token (or provider) granting the service its registration and the routes it calls; see ServiceOptions.token. Default none. */
  token?: TokenSource;
}

export interface RunningService {
  readonly service: Service;
  /** Stops serving and closes the store. */
  close(): Promise<void>;
}

/** `<dataDir>/<name>`: where one service keeps its store. */
export function serviceDir(options: CheckoutServiceOptions, name: string): string {
  return join(options.dataDir ?? DEFAULT_DATA_DIR, name);
}

/** Connects a checkout service with its fixed default instance id (`<name>-1`). */
export function connectCheckoutService(options: CheckoutServiceOptions, name: string, routes: RouteTable, events: Partial<ServiceStatusEvents> = {}): Promise<Service> {
  return connectService(
    {
      url: options.url,
      ...(options.discovery ? { discovery: options.discovery } : {}),
      service: name,
      instance: options.instance ?? `${name}-1`,
      routes,
      logger: options.logger ?? silentLogger,
      ...(options.reconnect ? { reconnect: options.reconnect } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
    },
    events,
  );
}

/**
 * Serves `routes(store)` over a store opened by `open`: the store is closed
 * when connecting fails and when the service stops. What the payment and
 * inventory services are made of.
 */
export async function serveStore<S extends { close(): Promise<void> }>(
  options: CheckoutServiceOptions,
  name: string,
  open: (dir: string, log: Logger) => Promise<S>,
  routes: (store: S) => RouteTable,
  settings: object,
): Promise<RunningService> {
  const log: Logger = options.logger ?? silentLogger;
  const store = await open(serviceDir(options, name), log);
  let service: Service;
  try {
    service = await connectCheckoutService(options, name, routes(store));
  } catch (err) {
    await store.close();
    throw err;
  }
  log.info({ ...settings }, `${name} service ready`);
  return {
    service,
    async close() {
      service.close();
      await store.close();
    },
  };
}
