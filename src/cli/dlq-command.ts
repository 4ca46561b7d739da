/** `sluice dlq list | replay`: inspect and replay the gateway's dead-letter queue. */
import { connect } from '../../clients/node/index.js';
import { caOption, intFlag, parseFlags } from './args.js';

const usage = `usage: sluice dlq list   [--state pending|replayed|all] [--route R] [--limit N] [--url URL] [--ca FILE]
       sluice dlq replay <id> [--url URL] [--ca FILE]
       sluice dlq replay --all [--route R] [--limit N] [--url URL] [--ca FILE]
`;

export async function dlqCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  const f = parseFlags(rest, { url: { type: 'string' }, ca: { type: 'string' }, state: { type: 'string' }, route: { type: 'string' }, limit: { type: 'string' }, all: { type: 'boolean' } }, usage);
  const flagValues = new Set([f.url, f.ca, f.state, f.route, f.limit].filter(Boolean));
  const positional = rest.filter((a) => !a.startsWith('--') && !flagValues.has(a));
  const limit = intFlag(f.limit, '--limit', 1, 10_000);
  const client = await connect({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) });
  try {
    if (action === 'list') {
      for await (const entry of client.iterateStream('dlq.list', { ...(f.state ? { state: f.state } : {}), ...(f.route ? { route: f.route } : {}), ...(limit ? { limit } : {}) }, { prefetch: 64 })) {
        process.stdout.write(`${JSON.stringify(entry)}\n`);
      }
      return;
    }
    if (action === 'replay') {
      const data = f.all ? { all: true, ...(f.route ? { route: f.route } : {}), ...(limit ? { limit } : {}) } : { id: positional[0] };
      if (!f.all && !positional[0]) throw new Error(usage);
      process.stdout.write(`${JSON.stringify(await client.requestResponse('dlq.replay', data))}\n`);
      return;
    }
    throw new Error(usage);
  } finally {
    client.close();
  }
}
