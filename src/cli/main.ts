/** `sluice <command>`: the one entry point of the CLI. */
import { isSluiceError } from '../errors.js';
import { gatewayCommand } from './gateway-command.js';
import { serviceCommand } from './service-command.js';
import { callCommand, streamCommand } from './call-command.js';
import { loadtestCommand } from './loadtest-command.js';
import { dlqCommand } from './dlq-command.js';
import { tokenCommand } from './token-command.js';

type Command = (argv: string[]) => Promise<void>;

/** A command table: name -> what runs and the one line `--help` shows. */
export type Commands = Readonly<Record<string, { run: Command; summary: string }>>;

const commands: Commands = {
  gateway: { run: gatewayCommand, summary: 'run the gateway (RSocket over WebSocket and TCP, admin HTTP)' },
  service: { run: serviceCommand, summary: "run the bench service (the load tester's target: bench.echo, bench.source, bench.sink)" },
  call: { run: callCommand, summary: 'send one request-response and print the answer' },
  stream: { run: streamCommand, summary: 'open a request-stream and print its items' },
  loadtest: { run: loadtestCommand, summary: 'flood a route through a gateway and report throughput, latency, errors and gateway memory' },
  dlq: { run: dlqCommand, summary: 'list or replay the dead-letter queue' },
  token: { run: tokenCommand, summary: 'mint a development token (HS256 JWT) granting routes, a service registration or admin' },
};

export async function main(argv: string[]): Promise<void> {
  await runCommands('sluice', commands, argv);
}

/**
 * Runs the command `argv[0]` names among `commands` (the checkout and bench
 * examples run their own tables through it). Errors end the process with
 * status 1 and one line on stderr, led by the error's code when it has one.
 */
export async function runCommands(program: string, commands: Commands, argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    const list = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`).join('\n');
    process.stderr.write(`usage: ${program} <command> [options]\n\ncommands:\n${list}\n\n${program} <command> --help shows its options\n`);
    process.exitCode = name && name !== '--help' ? 2 : 0;
    return;
  }
  try {
    await command.run(rest);
  } catch (err) {
    // A coded error says its code: scripts and people can tell PERMISSION_DENIED from UNAVAILABLE.
    const message = isSluiceError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    process.stderr.write(`${program} ${name}: ${message}\n`);
    process.exit(1);
  }
}
