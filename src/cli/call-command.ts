/** `sluice call` and `sluice stream`: one request from the command line, results as JSON lines. */
import { caOption, intFlag, parseCommand } from './args.js';
import { connectWithCliToken, resolveCliToken, tokenFlags, tokenUsage } from './cli-token.js';

const callUsage = `usage: sluice call <route> [json] [--url URL] [--ca FILE] [--token TOKEN | --token-file FILE]     request-response, prints the answer

  --url URL          gateway URL (env SLUICE_URL, default ws://127.0.0.1:7878)
  --ca FILE          PEM CA to trust for a wss:// or tls:// URL (env SLUICE_CA, default the system's)
${tokenUsage}`;
const streamUsage = `usage: sluice stream <route> [json] [--url URL] [--ca FILE] [--take N] [--prefetch N] [--token TOKEN | --token-file FILE]   request-stream, prints each item

  --url URL          gateway URL (env SLUICE_URL, default ws://127.0.0.1:7878)
  --ca FILE          PEM CA to trust for a wss:// or tls:// URL (env SLUICE_CA, default the system's)
  --take N           stop after N items (default: until the stream ends)
  --prefetch N       items requested ahead (default 16)
${tokenUsage}`;

function parseData(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new Error(`data must be JSON: ${(err as Error).message}`);
  }
}

export async function callCommand(argv: string[]): Promise<void> {
  const { values: f, positionals } = parseCommand(argv, { url: { type: 'string' }, ca: { type: 'string' }, ...tokenFlags }, callUsage);
  const [route, raw] = positionals;
  if (!route) throw new Error(callUsage);
  const client = await connectWithCliToken({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) }, await resolveCliToken(f));
  try {
    const answer = await client.requestResponse(route, parseData(raw));
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  } finally {
    client.close();
  }
}

export async function streamCommand(argv: string[]): Promise<void> {
  const { values: f, positionals } = parseCommand(
    argv,
    { url: { type: 'string' }, ca: { type: 'string' }, take: { type: 'string' }, prefetch: { type: 'string' }, ...tokenFlags },
    streamUsage,
  );
  const [route, raw] = positionals;
  if (!route) throw new Error(streamUsage);
  const take = intFlag(f.take, '--take', 1, Number.MAX_SAFE_INTEGER) ?? Infinity;
  const prefetch = intFlag(f.prefetch, '--prefetch', 1, 100_000) ?? 16;
  const client = await connectWithCliToken({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) }, await resolveCliToken(f));
  let n = 0;
  try {
    for await (const item of client.iterateStream(route, parseData(raw), { prefetch })) {
      process.stdout.write(`${JSON.stringify(item)}\n`);
      if (++n >= take) break;
    }
  } finally {
    client.close();
  }
}
