/** `sluice call` and `sluice stream`: one request from the command line, results as JSON lines. */
import { connect } from '../../clients/node/index.js';
import { caOption, intFlag, parseFlags } from './args.js';

const callUsage = `usage: sluice call <route> [json] [--url URL] [--ca FILE]     request-response, prints the answer\n`;
const streamUsage = `usage: sluice stream <route> [json] [--url URL] [--ca FILE] [--take N] [--prefetch N]   request-stream, prints each item\n`;

function parseData(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new Error(`data must be JSON: ${(err as Error).message}`);
  }
}

export async function callCommand(argv: string[]): Promise<void> {
  const f = parseFlags(argv, { url: { type: 'string' }, ca: { type: 'string' } }, callUsage);
  const [route, raw] = argv.filter((a) => !a.startsWith('--') && a !== f.url && a !== f.ca);
  if (!route) throw new Error(callUsage);
  const client = await connect({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) });
  try {
    const answer = await client.requestResponse(route, parseData(raw));
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  } finally {
    client.close();
  }
}

export async function streamCommand(argv: string[]): Promise<void> {
  const f = parseFlags(argv, { url: { type: 'string' }, ca: { type: 'string' }, take: { type: 'string' }, prefetch: { type: 'string' } }, streamUsage);
  const flagValues = new Set([f.url, f.ca, f.take, f.prefetch].filter(Boolean));
  const [route, raw] = argv.filter((a) => !a.startsWith('--') && !flagValues.has(a));
  if (!route) throw new Error(streamUsage);
  const take = intFlag(f.take, '--take', 1, Number.MAX_SAFE_INTEGER) ?? Infinity;
  const prefetch = intFlag(f.prefetch, '--prefetch', 1, 100_000) ?? 16;
  const client = await connect({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) });
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
