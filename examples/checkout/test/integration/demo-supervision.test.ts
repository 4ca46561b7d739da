/**
 * The demo supervisor with real processes: `sluice demo` restarts a service
 * and the gateway killed with SIGKILL, keeps everything else running, shows
 * the restart counts, and the demo serves again afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../../../clients/node/index.js';
import { eventually } from '../../../../test/helpers/harness.js';
import { CHECKOUT } from '../../src/supervisor.js';
import { spawnGroup, stopProcessGroup } from '../../../../test/helpers/process-group.js';

describe('sluice demo supervision', () => {
  it('restarts a killed service and a killed gateway, with the restart count in its output', async () => {
    const cwd = new URL('../../../..', import.meta.url).pathname;
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-supervise-'));
    const demo = spawnGroup(process.execPath, [...CHECKOUT, 'demo', '--port', '0', '--admin-port', '0', '--data-dir', dataDir], {
      cwd,
      env: { ...process.env, SLUICE_TOKEN: '', SLUICE_TOKEN_FILE: '' },
    });
    const { proc, exited } = demo;
    const line = (re: RegExp) => demo.waitFor(re);
    const ready = async (admin: string) => eventually(async () => (await fetch(`${admin}/readyz`).catch(() => undefined))?.status === 200, 'readyz 200', 300, 100);
    try {
      await line(/Ctrl-C stops everything/);
      const url = /gateway\s+(ws:\/\/\S+)/.exec(demo.output())![1]!;
      const admin = /admin\s+(http:\/\/\S+)/.exec(demo.output())![1]!;
      const pid = (name: string, restarts: number) => line(new RegExp(`\\[supervisor\\] ${name} started \\(pid (\\d+), restarts ${restarts}\\)`)).then((m) => Number(m[1]));

      // A service dies: it alone is restarted; the gateway's pid is unchanged.
      const gatewayPid = await pid('gateway', 0);
      process.kill(await pid('payment', 0), 'SIGKILL');
      await line(/\[supervisor\] payment exited \(signal SIGKILL\): restart 1 in \d+ ms/);
      await pid('payment', 1);
      await line(/\[supervisor\] payment registered again \(restarts 1\)/);
      await ready(admin);
      expect(demo.output()).not.toMatch(/gateway exited/);

      // The gateway dies: it is restarted on the same ports, and every service reconnects to it.
      process.kill(gatewayPid, 'SIGKILL');
      await line(/\[supervisor\] gateway exited \(signal SIGKILL\): restart 1 in \d+ ms; the rest keeps running/);
      expect(await pid('gateway', 1)).not.toBe(gatewayPid);
      await line(/\[supervisor\] gateway listening again \(restarts 1\)/);
      await ready(admin);
      const client = await connect({ url });
      expect(await client.requestResponse('bench.echo', { after: 'restart' })).toEqual({ after: 'restart' });
      client.close();
      // No service was restarted because of the gateway: they reconnected by themselves.
      expect(demo.output()).not.toMatch(/(order|inventory|bench) exited/);

      process.kill(-proc.pid!, 'SIGINT');
      expect(await exited).toBe(0);
      expect(demo.output()).toMatch(/stopped \(restarts: gateway 1, payment 1\)/);
    } finally {
      // The supervisor's whole group, waited for: nothing outlives the test.
      await stopProcessGroup(proc.pid!);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
