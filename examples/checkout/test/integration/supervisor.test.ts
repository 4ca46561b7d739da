/**
 * The supervisor's restart rules with real child processes: a child that
 * keeps crashing is restarted with growing delays, then left down as a crash
 * loop; one stopped on purpose is not restarted.
 */
import { describe, expect, it } from 'vitest';
import { supervise, type SupervisionEvents } from '../../src/supervisor.js';

function recordEvents() {
  const log: string[] = [];
  let onGaveUp: () => void = () => {};
  const gaveUp = new Promise<void>((r) => (onGaveUp = r));
  const events: SupervisionEvents = {
    started: (name, _pid, restarts) => log.push(`${name} started ${restarts}`),
    restarting: (name, exit, restarts, delayMs) => log.push(`${name} ${exit} restart ${restarts} in ${delayMs}`),
    gaveUp: (name, exit, crashes) => {
      log.push(`${name} ${exit} gave up after ${crashes}`);
      onGaveUp();
    },
  };
  return { log, events, gaveUp };
}

describe('supervise', () => {
  it('restarts a crashing child with doubling delays, then stops at the crash-loop limit', async () => {
    const { log, events, gaveUp } = recordEvents();
    // A gateway with an invalid port exits at once with status 1: a crash every time.
    const s = supervise(() => ({ name: 'broken', args: ['gateway', '--port', 'not-a-port'] }), events, { initialDelayMs: 10, maxDelayMs: 25, multiplier: 2, maxRestarts: 3, windowMs: 60_000 }, 'ignore');
    await gaveUp;
    expect(log).toEqual([
      'broken started 0',
      'broken code 1 restart 1 in 10',
      'broken started 1',
      'broken code 1 restart 2 in 20',
      'broken started 2',
      'broken code 1 restart 3 in 25',
      'broken started 3',
      'broken code 1 gave up after 4',
    ]);
    expect(s.restarts).toBe(3);
    expect(s.running).toBe(false);
    await s.stop(1_000);
  }, 90_000);

  it('does not restart a child it was asked to stop', async () => {
    const { log, events } = recordEvents();
    const s = supervise(() => ({ name: 'gw', args: ['gateway', '--port', '0', '--admin-port', '0'], env: { SLUICE_LOG_LEVEL: 'silent' } }), events, undefined, 'ignore');
    await s.current.message('listening', 30_000);
    await s.stop(5_000);
    expect(s.current.process.exitCode !== null || s.current.process.signalCode !== null).toBe(true);
    expect(log).toEqual(['gw started 0']);
    expect(s.restarts).toBe(0);
  }, 60_000);
});
