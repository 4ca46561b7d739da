/** `sluice <command>`: the one entry point of the CLI. */
import { isSluiceError } from '../errors.js';
import { gatewayCommand } from './gateway-command.js';
import { serviceCommand } from './service-command.js';
import { demoCommand } from '../../examples/checkout/src/cli/demo-command.js';
import { callCommand, streamCommand } from './call-command.js';
import { orderCommand } from '../../examples/checkout/src/cli/order-command.js';
import { benchCommand } from '../../examples/bench/src/cli/bench-command.js';
import { loadtestCommand } from './loadtest-command.js';
import { dlqCommand } from './dlq-command.js';
import { benchPeerCommand } from '../../examples/bench/src/cli/bench-peer-command.js';
import { tokenCommand } from './token-command.js';

type Command = (argv: string[]) => Promise<void>;

const commands: Record<string, { run: Command; summary: string }> = {
  gateway: { run: gatewayCommand, summary: 'run the gateway (RSocket over WebSocket and TCP, admin HTTP)' },
  service: { run: serviceCommand, summary: 'run a built-in service: bench, order, payment, inventory' },
  demo: { run: demoCommand, summary: 'run the gateway and the demo services as child processes (npm start)' },
  call: { run: callCommand, summary: 'send one request-response and print the answer' },
  stream: { run: streamCommand, summary: 'open a request-stream and print its items' },
  loadtest: { run: loadtestCommand, summary: 'flood a route through a gateway and report throughput, latency, errors and gateway memory' },
  order: { run: orderCommand, summary: 'place a checkout order and print its events as they happen' },
  dlq: { run: dlqCommand, summary: 'list or replay the dead-letter queue' },
  token: { run: tokenCommand, summary: 'mint a development token (HS256 JWT) granting routes, a service registration or admin' },
  bench: { run: benchCommand, summary: 'run the benchmarks (ratios against baselines measured in the same run)' },
  'bench-peer': { run: benchPeerCommand, summary: 'a baseline process for the benchmarks (started by npm run bench)' },
};

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    const list = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n');
    process.stderr.write(`usage: sluice <command> [options]\n\ncommands:\n${list}\n\nsluice <command> --help shows its options\n`);
    process.exitCode = name && name !== '--help' ? 2 : 0;
    return;
  }
  try {
    await command.run(rest);
  } catch (err) {
    // A coded error says its code: scripts and people can tell PERMISSION_DENIED from UNAVAILABLE.
    const message = isSluiceError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    process.stderr.write(`sluice ${name}: ${message}\n`);
    process.exit(1);
  }
}
