/**
 * The machine's speed between scenarios: the same fixed work (SHA-256 over
 * 64 MiB, native code on one thread, so neither the JIT nor Sluice moves it)
 * timed while no scenario runs. On a shared or virtual machine the speed of
 * one core changes from minute to minute (a neighbour, the host's clock); a
 * scenario whose every process ran slow, baselines and nats-server included,
 * shows it here as a longer probe before or after it, so a reader can tell a
 * slow machine from a slow build.
 */
import { createHash } from 'node:crypto';
import { median } from './processes.js';

const BLOCK = Buffer.alloc(1 << 20, 0x5a);
const BLOCKS = 64;
const ROUNDS = 3;

/** Ms for the fixed work, median of three rounds; blocks this process's event loop for about a tenth of a second, so only between scenarios. */
export function probeSpeedMs(): number {
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < BLOCKS; i++) createHash('sha256').update(BLOCK).digest();
    times.push(performance.now() - t0);
  }
  return median(times);
}
