/** `sluice dlq list | replay`: inspect and replay the gateway's dead-letter queue. */
import { caOption, intFlag, parseCommand } from './args.js';
import { connectWithCliToken, resolveCliToken, tokenFlags, tokenUsage } from './cli-token.js';

const usage = `usage: sluice dlq list   [--state pending|replayed|all] [--route R] [--limit N] [--after ID] [--url URL] [--ca FILE]
       sluice dlq replay <id> [--url URL] [--ca FILE]
       sluice dlq replay --all [--route R] [--limit N] [--url URL] [--ca FILE]

The dead-letter queue is the gateway's own (with NATS, the fleet's: any gateway
lists and replays it); its routes need an admin token. --after ID lists the
entries after ID (the last one of the previous page).
${tokenUsage}`;

export async function dlqCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  const { values: f, positionals: positional } = parseCommand(
    rest,
    { url: { type: 'string' }, ca: { type: 'string' }, state: { type: 'string' }, route: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' }, all: { type: 'boolean' }, ...tokenFlags },
    usage,
  );
  const limit = intFlag(f.limit, '--limit', 1, 10_000);
  const client = await connectWithCliToken({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) }, await resolveCliToken(f));
  try {
    if (action === 'list') {
      for await (const entry of client.iterateStream('dlq.list', { ...(f.state ? { state: f.state } : {}), ...(f.route ? { route: f.route } : {}), ...(limit ? { limit } : {}), ...(f.after ? { after: f.after } : {}) }, { prefetch: 64 })) {
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
