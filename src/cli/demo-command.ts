/**
 * `sluice demo` (what `npm start` runs): the gateway and the demo services,
 * each its own process, connected over WebSocket. Waits until every service
 * is registered (/readyz 200), prints where to look, and on Ctrl-C stops the
 * gateway first (it drains in-flight work) and then the services.
 */
import { startChild, waitForHttpOk, type Child, type ChildSpec } from '../demo/supervisor.js';
import { intFlag, parseFlags, stopSignal } from './args.js';

const usage = `usage: sluice demo [options]    (npm start -- [options])

  --host HOST         gateway interface (env SLUICE_HOST, default 127.0.0.1)
  --port N            gateway WebSocket port (env SLUICE_PORT, default 7878; 0 = any free)
  --admin-port N      admin HTTP port (env SLUICE_ADMIN_PORT, default 7879; 0 = any free)
  --log-level LEVEL   children's log level (env SLUICE_LOG_LEVEL, default warn)
`;

interface DemoService {
  readonly name: string;
  readonly routes: readonly string[];
}

const SERVICES: readonly DemoService[] = [{ name: 'bench', routes: ['bench.echo', 'bench.source', 'bench.stats', 'bench.sink'] }];

export async function demoCommand(argv: string[]): Promise<void> {
  const f = parseFlags(argv, { host: { type: 'string' }, port: { type: 'string' }, 'admin-port': { type: 'string' }, 'log-level': { type: 'string' } }, usage);
  const env = process.env;
  const host = (f.host as string | undefined) ?? env.SLUICE_HOST ?? '127.0.0.1';
  const port = intFlag(f.port ?? env.SLUICE_PORT, '--port', 0, 65535) ?? 7878;
  const adminPort = intFlag(f['admin-port'] ?? env.SLUICE_ADMIN_PORT, '--admin-port', 0, 65535) ?? 7879;
  const level = (f['log-level'] as string | undefined) ?? env.SLUICE_LOG_LEVEL ?? 'warn';
  const childEnv = { SLUICE_LOG_LEVEL: level };

  const readyRoutes = SERVICES.flatMap((s) => s.routes.flatMap((r) => ['--ready-route', r]));
  const gatewaySpec: ChildSpec = {
    name: 'gateway',
    args: ['gateway', '--host', host, '--port', String(port), '--admin-port', String(adminPort), ...readyRoutes],
    env: childEnv,
  };
  const gateway = startChild(gatewaySpec);
  const services: Child[] = [];
  const stopAll = async () => {
    await gateway.stop(15_000);
    await Promise.all(services.map((s) => s.stop(5_000)));
  };
  try {
    const { url, adminUrl } = await gateway.message<{ url: string; adminUrl: string }>('listening', 30_000);
    for (const s of SERVICES) services.push(startChild({ name: s.name, args: ['service', s.name, '--url', url], env: childEnv }));
    await waitForHttpOk(`${adminUrl}/readyz`, 60_000);
    process.stdout.write(banner(url, adminUrl));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const signal = await Promise.race([stopSignal(), new Promise<string>((r) => gateway.process.once('exit', () => r('gateway exited')))]);
  process.stdout.write(`\n${signal}: stopping (gateway drains first, then services)\n`);
  await stopAll();
  process.stdout.write('stopped\n');
  process.exit(0);
}

function banner(url: string, adminUrl: string): string {
  return [
    '',
    'Sluice demo is up.',
    `  gateway   ${url}   (RSocket over WebSocket)`,
    `  admin     ${adminUrl}   /healthz  /readyz  /metrics`,
    `  dashboard ${adminUrl}/`,
    `  services  ${SERVICES.map((s) => s.name).join(', ')}`,
    '',
    'Try it:',
    `  node bin/sluice.js call bench.echo '{"hello":"sluice"}' --url ${url}`,
    `  node bin/sluice.js stream bench.source '{"count":5}' --url ${url}`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
