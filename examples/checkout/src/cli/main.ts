/** `sluice-checkout <command>`: the checkout demo's CLI (npm start runs `demo`). */
import { runCommands, type Commands } from '../../../../src/cli/main.js';
import { demoCommand } from './demo-command.js';
import { orderCommand } from './order-command.js';
import { serviceCommand } from './service-command.js';

const commands: Commands = {
  demo: { run: demoCommand, summary: 'run the gateway and the demo services as child processes (npm start)' },
  service: { run: serviceCommand, summary: 'run a checkout service: order, payment, inventory' },
  order: { run: orderCommand, summary: 'place a checkout order and print its events as they happen' },
};

await runCommands('sluice-checkout', commands, process.argv.slice(2));
