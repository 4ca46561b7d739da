/**
 * `sluice bench-peer <kind>`: the baseline processes `npm run bench` starts
 * next to the gateway (raw ws source and relay, the three synchronous HTTP
 * services, the NATS bench service), each in its own process like the
 * gateway and the services it is compared with. Loopback only.
 */
import { startChainService, type ChainRole } from '../peers/http-chain.js';
import { startNatsService } from '../peers/nats-service.js';
import { startRawRelay, startRawSource } from '../peers/raw-ws.js';
import { ScaleClients } from '../peers/scale-clients.js';
import { isLoopbackHost, requireLoopback } from '../../../../src/loadtest/options.js';
import { exitWithParent, intFlag, notifyParent, numberFlag, parseFlags, stopSignal, type FlagValues } from '../../../../src/cli/args.js';

const usage = `usage: sluice bench-peer <kind> [options]   (started by npm run bench)

  kind                 raw-source | raw-relay | http-order | http-payment | http-inventory | nats-service | scale-clients
  --port N             listen port, 0 = any free (default 0)
  --upstream URL       raw-relay: the raw source; http-order: payment; http-payment: inventory
  --latency-ms N       http-inventory: ms before answering (default 0)
  --failure-rate R     http-inventory: share of calls answered 503, 0-1 (default 0)
  --nats URL           nats-service: the NATS server (nats://127.0.0.1:PORT)
  --url URL            scale-clients: the gateway (ws://127.0.0.1:PORT)
  --local-address A    scale-clients: loopback source address to bind (127.0.0.2, ...)
  --connections N      scale-clients: connections to open (default 1000)
  --streams N          scale-clients: bench.source streams in all, spread over the connections (default 10000)
`;

export async function benchPeerCommand(argv: string[]): Promise<void> {
  const [kind, ...rest] = argv;
  const f = parseFlags(
    rest,
    {
      port: { type: 'string' },
      upstream: { type: 'string' },
      'latency-ms': { type: 'string' },
      'failure-rate': { type: 'string' },
      nats: { type: 'string' },
      url: { type: 'string' },
      'local-address': { type: 'string' },
      connections: { type: 'string' },
      streams: { type: 'string' },
    },
    usage,
  );
  const port = intFlag(f.port, '--port', 0, 65535) ?? 0;
  const upstream = f.upstream as string | undefined;
  const need = (value: string | undefined, flag: string): string => {
    if (!value) throw new Error(`${kind} needs ${flag}\n\n${usage}`);
    requireLoopback(value, flag);
    return value;
  };
  if (kind === 'scale-clients') {
    await runScaleClients(f, need);
    return;
  }
  let peer: { url?: string; close(): Promise<void> };
  switch (kind) {
    case 'raw-source':
      peer = await startRawSource(port);
      break;
    case 'raw-relay':
      peer = await startRawRelay(need(upstream, '--upstream'), port);
      break;
    case 'http-order':
    case 'http-payment':
    case 'http-inventory': {
      const role = kind.slice('http-'.length) as ChainRole;
      peer = await startChainService({
        role,
        port,
        ...(role !== 'inventory' ? { upstream: need(upstream, '--upstream') } : {}),
        latencyMs: intFlag(f['latency-ms'], '--latency-ms', 0, 600_000) ?? 0,
        failureRate: numberFlag(f['failure-rate'], '--failure-rate', 0, 1) ?? 0,
      });
      break;
    }
    case 'nats-service':
      peer = await startNatsService(need(f.nats as string | undefined, '--nats'));
      break;
    default:
      throw new Error(`unknown bench peer '${kind ?? ''}'\n\n${usage}`);
  }
  notifyParent({ type: 'listening', url: peer.url ?? null });
  exitWithParent();
  await stopSignal();
  await peer.close();
  process.exit(0);
}

/**
 * Opens the connections, reports `connected`, then does what the parent asks
 * over IPC, one step at a time: `open` (the streams, then `opened`), `sample`
 * (a demand check, then `sampled`), until it is stopped.
 */
async function runScaleClients(f: FlagValues, need: (value: string | undefined, flag: string) => string): Promise<void> {
  const localAddress = f['local-address'] as string | undefined;
  if (!localAddress || !isLoopbackHost(localAddress)) throw new Error(`scale-clients needs --local-address, a loopback address (127.0.0.2, ...)\n\n${usage}`);
  const fail = (err: unknown) => notifyParent({ type: 'failed', error: (err as Error).message });
  const clients = new ScaleClients({
    url: need(f.url as string | undefined, '--url'),
    localAddress,
    connections: intFlag(f.connections, '--connections', 1, 19_000) ?? 1000,
    streams: intFlag(f.streams, '--streams', 1, 10_000_000) ?? 10_000,
    // A connection lost at any step is the scenario's failure, whatever step it is in.
    onLost: (reason) => fail(new Error(reason)),
  });
  process.on('message', (m: { type?: string; count?: number; n?: number; rounds?: number }) => {
    if (m.type === 'open') {
      const t0 = performance.now();
      clients.openStreams().then((streams) => notifyParent({ type: 'opened', streams, seconds: (performance.now() - t0) / 1000 }), fail);
    } else if (m.type === 'sample') {
      clients.sample(m.count ?? 0, m.n ?? 1, m.rounds ?? 1).then((result) => notifyParent({ type: 'sampled', ...result }), fail);
    }
  });
  exitWithParent();
  try {
    notifyParent({ type: 'connected', connections: await clients.connect(), localAddress });
  } catch (err) {
    fail(err);
  }
  await stopSignal();
  clients.close();
  process.exit(0);
}
