/** `sluice-bench <command>`: the benchmarks' CLI (npm run bench runs `bench`). */
import { runCommands, type Commands } from '../../../../src/cli/main.js';
import { benchCommand } from './bench-command.js';
import { benchPeerCommand } from './bench-peer-command.js';
import { profileCommand } from '../profile/profile-command.js';

const commands: Commands = {
  bench: { run: benchCommand, summary: 'run the benchmarks (ratios against baselines measured in the same run)' },
  profile: { run: profileCommand, summary: 'profile the gateway and the bench service under one hot-path workload (node --cpu-prof)' },
  'bench-peer': { run: benchPeerCommand, summary: 'a baseline process for the benchmarks (started by npm run bench)' },
};

await runCommands('sluice-bench', commands, process.argv.slice(2));
