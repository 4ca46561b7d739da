/** `sluice <command>`: the one entry point of the CLI. */
import { isSluiceError } from '../errors.js';

type Command = (argv: string[]) => Promise<void>;

/** A command table: name -> what runs and the one line `--help` shows. */
export type Commands = Readonly<Record<string, { run: Command; summary: string }>>;

/**
 * A command whose module is imported only when it runs: a gateway does not
 * load the load tester (and hdr-histogram-js), and every
 * process starts faster and holds less code.
 */
export function lazy<M>(load: () => Promise<M>, pick: (m: M) => Command): Command {
  return async (argv) => pick(await load())(argv);
}

const commands: Commands = {
  gateway: { run: lazy(() => import('./gateway-command.js'), (m) => m.gatewayCommand), summary: 'run the gateway (RSocket over WebSocket and TCP, admin HTTP)' },
  service: { run: lazy(() => import('./service-command.js'), (m) => m.serviceCommand), summary: "run the bench service (the load tester's target: bench.echo, bench.source, bench.sink)" },
  call: { run: lazy(() => import('./call-command.js'), (m) => m.callCommand), summary: 'send one request-response and print the answer' },
  stream: { run: lazy(() => import('./call-command.js'), (m) => m.streamCommand), summary: 'open a request-stream and print its items' },
  loadtest: { run: lazy(() => import('./loadtest-command.js'), (m) => m.loadtestCommand), summary: 'flood a route through a gateway and report throughput, latency, errors and gateway memory' },
  dlq: { run: lazy(() => import('./dlq-command.js'), (m) => m.dlqCommand), summary: 'list or replay the dead-letter queue' },
  token: { run: lazy(() => import('./token-command.js'), (m) => m.tokenCommand), summary: 'mint a development token (HS256 JWT) granting routes, a service registration or admin' },
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
