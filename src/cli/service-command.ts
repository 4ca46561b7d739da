/** `sluice service <name>`: runs a built-in service connected to a gateway. */
import { benchRoutes } from '../bench/bench-service.js';
import { connectService } from '../service/connect-service.js';
import { createLogger } from '../observability/logger.js';
import type { RouteTable } from '../service/handlers.js';
import { exitWithParent, notifyParent, parseFlags, stopSignal } from './args.js';

const usage = `usage: sluice service <name> [options]

  name                 bench
  --url URL            gateway URL          (env SLUICE_URL, default ws://127.0.0.1:7878)
  --instance ID        instance id          (default <name>-<random>)
  --log-level LEVEL    (env SLUICE_LOG_LEVEL, default info)
`;

const services: Record<string, () => RouteTable> = {
  bench: benchRoutes,
};

export async function serviceCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const routes = name ? services[name] : undefined;
  if (!routes) throw new Error(`unknown service '${name ?? ''}'; known: ${Object.keys(services).join(', ')}\n\n${usage}`);
  const f = parseFlags(rest, { url: { type: 'string' }, instance: { type: 'string' }, 'log-level': { type: 'string' } }, usage);
  const logger = createLogger({ name: `sluice-${name}`, level: (f['log-level'] as string | undefined) ?? process.env.SLUICE_LOG_LEVEL ?? 'info' });
  const service = await connectService({
    url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878',
    service: name!,
    ...(f.instance ? { instance: f.instance as string } : {}),
    routes: routes(),
    logger,
  });
  notifyParent({ type: 'registered', service: service.service, instance: service.instance });
  exitWithParent();
  await stopSignal();
  service.close();
  process.exit(0);
}
