/**
 * `sluice-checkout order`: places one order through `checkout.place` and prints its
 * events from `orders.watch` as they arrive, with the time since the order
 * was sent, until the terminal event.
 */
import { randomUUID } from 'node:crypto';
import { caOption, parseFlags } from '../../../../src/cli/args.js';
import { connectWithCliToken, resolveCliToken, tokenFlags, tokenUsage } from '../../../../src/cli/cli-token.js';

const usage = `usage: sluice-checkout order --sku SKU [--qty N] [--sku SKU --qty N ...] [options]

  --sku SKU          a catalogue sku (A1, B2, C3, D4 in stock; Z9 sold out); repeatable
  --qty N            units of the matching --sku (default 1)
  --customer ID      customer id (default cli-user)
  --key KEY          idempotency key (default a new one: run twice with the same key, get the same order)
  --url URL          gateway URL (env SLUICE_URL, default ws://127.0.0.1:7878)
  --ca FILE          PEM CA to trust for a wss:// or tls:// URL (env SLUICE_CA, default the system's)
  --json             print the answer and each event as one JSON line
${tokenUsage}`;

export async function orderCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    {
      sku: { type: 'string', multiple: true },
      qty: { type: 'string', multiple: true },
      customer: { type: 'string' },
      key: { type: 'string' },
      url: { type: 'string' },
      ca: { type: 'string' },
      json: { type: 'boolean' },
      ...tokenFlags,
    },
    usage,
  );
  const skus = (f.sku as string[] | undefined) ?? [];
  const qtys = (f.qty as string[] | undefined) ?? [];
  if (skus.length === 0) throw new Error(`at least one --sku is required\n\n${usage}`);
  if (qtys.length > skus.length) throw new Error(`${qtys.length} --qty for ${skus.length} --sku: give each --qty after its --sku`);
  // Quantities go to the service as typed (numbers when they parse): it validates and names the bad field.
  const items = skus.map((sku, i) => ({ sku, qty: qtys[i] === undefined ? 1 : Number.isNaN(Number(qtys[i])) ? qtys[i] : Number(qtys[i]) }));
  const command = { idempotencyKey: (f.key as string | undefined) ?? `cli-${randomUUID()}`, customerId: (f.customer as string | undefined) ?? 'cli-user', items };
  const json = f.json === true;
  const out = (line: string) => process.stdout.write(`${line}\n`);

  const client = await connectWithCliToken({ url: (f.url as string | undefined) ?? process.env.SLUICE_URL ?? 'ws://127.0.0.1:7878', ...caOption(f.ca) }, await resolveCliToken(f));
  try {
    const started = performance.now();
    const since = () => `+${String(Math.round(performance.now() - started)).padStart(5)} ms`;
    const placed = await client.requestResponse<{ orderId: string; status: string }>('checkout.place', command);
    if (json) out(JSON.stringify(placed));
    else out(`${since()}  accepted ${placed.orderId} (${placed.status}), key ${command.idempotencyKey}`);
    for await (const event of client.iterateStream<Record<string, unknown>>('orders.watch', { orderId: placed.orderId })) {
      if (json) {
        out(JSON.stringify(event));
        continue;
      }
      const { type, seq, orderId: _o, at: _a, ...details } = event;
      out(`${since()}  #${String(seq)} ${String(type).padEnd(18)} ${JSON.stringify(details)}`);
    }
  } finally {
    client.close();
  }
}
