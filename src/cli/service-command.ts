/**
 * `sluice service bench`: runs the bench service (the load tester's target:
 * bench.echo, bench.source, bench.sink, bench.stats) connected to a gateway.
 * `runServiceCommand` is the same command for other built-in services: the
 * checkout example's CLI runs its order, payment and inventory services with it.
 */
import { benchRoutes, type BenchServiceState } from '../loadtest/bench-service.js';
import { connectService } from '../service/connect-service.js';
import { createLogger, type PinoLogger } from '../observability/logger.js';
import { readFile } from 'node:fs/promises';
import type { TokenSource } from '../client/token.js';
import type { GatewayDiscovery } from '../service/gateway-discovery.js';
import { natsDiscovery } from '../fleet/nats-discovery.js';
import { caOption, exitWithParent, notifyParent, parseFlags, splitList, stopSignal, type FlagValues, type Flags } from './args.js';

/** Options every service gets, with the flags and environment variables that set them. */
export const COMMON_SERVICE_USAGE = `  --url URL[,URL...]   gateway URL, or every gateway of a fleet (env SLUICE_URL, default ws://127.0.0.1:7878
                       unless --nats is given)
  --nats URL[,URL...]  find the fleet's gateways in NATS KV as they join and leave (env SLUICE_NATS)
  --fleet-bucket NAME  the fleet's KV bucket (default sluice_gateways)
  --ca FILE            PEM CA to trust for a wss:// or tls:// URL (env SLUICE_CA)
  --instance ID        instance id
  --log-level LEVEL    (env SLUICE_LOG_LEVEL, default info)
  --token-file FILE    bearer token granting the registration (env SLUICE_TOKEN_FILE); re-read on every
                       reconnection and before the token expires, so rewriting the file rotates it
                       env SLUICE_TOKEN: the token itself (never on the command line, which ps shows)
                       default: no token (a gateway with auth on refuses the registration)
`;

const usage = `usage: sluice service bench [options]

${COMMON_SERVICE_USAGE}  (--instance default bench-<random>)
`;

export interface RunningService {
  readonly service: string;
  readonly instance: string;
  close(): Promise<void>;
}

export interface ServiceCommon {
  /** Every gateway to connect to (may be empty with discovery). */
  url: string[];
  /** The fleet's gateways as they join and leave, from `--nats`. */
  discovery: GatewayDiscovery | undefined;
  ca: string | undefined;
  instance: string | undefined;
  logger: PinoLogger;
  token: TokenSource | undefined;
}

export interface ServiceDefinition {
  /** Flags beyond the common ones. */
  readonly flags?: Flags;
  /** Starts the service; `flags` holds every parsed flag. Resolves once it is registered. */
  start(common: ServiceCommon, flags: FlagValues): Promise<RunningService>;
}

const services: Record<string, ServiceDefinition> = {
  bench: {
    async start(c) {
      const state: BenchServiceState = { openSources: 0 };
      // A benchmark parent asks how many streams this process still serves (to see cancellation reach the source) and its memory.
      process.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'report') {
          const { rss, heapUsed } = process.memoryUsage();
          notifyParent({ type: 'report', openSources: state.openSources, rss, heapUsed });
        }
      });
      const s = await connectService({
        url: c.url,
        ...(c.discovery ? { discovery: c.discovery } : {}),
        service: 'bench',
        ...(c.instance ? { instance: c.instance } : {}),
        ...(c.token !== undefined ? { token: c.token } : {}),
        routes: benchRoutes(state),
        logger: c.logger,
        ...caOption(c.ca),
      });
      return { service: s.service, instance: s.instance, close: async () => s.close() };
    },
  },
};

export async function serviceCommand(argv: string[]): Promise<void> {
  await runServiceCommand(argv, services, usage);
}

/**
 * Runs the service `argv[0]` names among `services` until SIGINT / SIGTERM or
 * the parent goes away, reporting `registered` to a parent over IPC.
 */
export async function runServiceCommand(argv: string[], services: Readonly<Record<string, ServiceDefinition>>, usage: string): Promise<void> {
  const [name, ...rest] = argv;
  const def = name ? services[name] : undefined;
  if (!def) throw new Error(`unknown service '${name ?? ''}'; known: ${Object.keys(services).join(', ')}\n\n${usage}`);
  const flags: Flags = { url: { type: 'string' }, nats: { type: 'string' }, 'fleet-bucket': { type: 'string' }, ca: { type: 'string' }, instance: { type: 'string' }, 'log-level': { type: 'string' }, 'token-file': { type: 'string' }, ...def.flags };
  const f = parseFlags(rest, flags, usage);
  const logger = createLogger({ name: `sluice-${name}`, level: (f['log-level'] as string | undefined) ?? process.env.SLUICE_LOG_LEVEL ?? 'info' });
  const nats = splitList((f.nats as string | undefined) ?? process.env.SLUICE_NATS);
  const discovery = nats ? natsDiscovery({ servers: nats, ...(f['fleet-bucket'] ? { bucket: f['fleet-bucket'] as string } : {}), logger }) : undefined;
  const running = await def.start(
    {
      url: splitList((f.url as string | undefined) ?? process.env.SLUICE_URL) ?? (discovery ? [] : ['ws://127.0.0.1:7878']),
      discovery,
      instance: f.instance as string | undefined,
      ca: f.ca as string | undefined,
      logger,
      token: serviceToken((f['token-file'] as string | undefined) ?? process.env.SLUICE_TOKEN_FILE, process.env.SLUICE_TOKEN),
    },
    f,
  );
  notifyParent({ type: 'registered', service: running.service, instance: running.instance });
  exitWithParent();
  await stopSignal();
  await running.close();
  process.exit(0);
}

/** A token file is a provider (read on every connection and refresh, so it can be rotated in place); SLUICE_TOKEN is fixed. */
export function serviceToken(file: string | undefined, fixed: string | undefined): TokenSource | undefined {
  if (file) return async () => (await readFile(file, 'utf8')).trim();
  return fixed ? fixed.trim() : undefined;
}
