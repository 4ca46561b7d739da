/**
 * The README's quick start: `npm start` brings up the gateway and the demo
 * services as separate processes, prints where they are, serves bench.echo,
 * runs the checkout command it suggests, and Ctrl-C (SIGINT to the process
 * group, as a terminal sends it) stops all. The checkout stores go to a temp
 * data dir, not the repository's ./data.
 *
 * The demo runs with auth on: anonymous callers reach the public routes and
 * are refused the internal ones (PERMISSION_DENIED); the CLI, pointed at the
 * demo's data dir, uses the operator token there for `dlq`; the secret and
 * the operator token are private to their owner (0600).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connect } from '../../clients/node/index.js';
import { spawnGroup, stopProcessGroup } from '../helpers/process-group.js';

describe('npm start', () => {
  it('starts the demo, answers bench.echo, places the suggested order, and stops cleanly on Ctrl-C', async () => {
    const cwd = new URL('../..', import.meta.url).pathname;
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-quickstart-'));
    const demo = spawnGroup('npm', ['start', '--silent'], {
      cwd,
      env: { ...process.env, SLUICE_PORT: '0', SLUICE_ADMIN_PORT: '0', SLUICE_DATA_DIR: dataDir },
    });
    const { proc, exited } = demo;
    try {
      await demo.waitFor(/Ctrl-C stops everything/);
      const out = demo.output();
      const url = /gateway\s+(ws:\/\/\S+)/.exec(out)?.[1];
      const admin = /admin\s+(http:\/\/\S+)/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect((await fetch(`${admin}/readyz`)).status).toBe(200);
      const client = await connect({ url: url! });
      expect(await client.requestResponse('bench.echo', { hello: 'sluice' })).toEqual({ hello: 'sluice' });
      // Anonymous: the internal routes and the gateway's own are refused, naming the route.
      await expect(client.requestResponse('payment.refund', { orderId: 'ord_x' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('payment.refund') });
      await expect(client.requestResponse('dlq.replay', { all: true })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      client.close();
      for (const file of ['gateway/auth-secret', 'gateway/operator.jwt']) expect((await stat(join(dataDir, file))).mode & 0o777, file).toBe(0o600);
      // The CLI as a user on this machine runs it: its data dir is the demo's, so dlq gets the operator token.
      const cliEnv = (env: Record<string, string> = {}) => ({ cwd, env: { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_TOKEN: '', SLUICE_TOKEN_FILE: '', ...env } });
      const cli = (args: string[], env: Record<string, string> = {}) => promisify(execFile)(process.execPath, args, cliEnv(env));
      // The command the banner suggests, as printed: it places an order and prints its events to the end.
      const tryIt = /^ {2}(npm run --silent checkout -- order .*)$/m.exec(out)?.[1];
      expect(tryIt).toBeDefined();
      const [npm, ...args] = tryIt!.split(/\s+/);
      // Independent commands, run side by side: each is its own process.
      const anonymous = { SLUICE_DATA_DIR: join(dataDir, 'nowhere') };
      const [{ stdout }, echoed, , refund] = await Promise.all([
        promisify(execFile)(npm!, args, cliEnv()),
        cli(['bin/sluice.js', 'call', 'bench.echo', '{"hello":"sluice"}', '--url', url!]),
        // Admin: exits non-zero (rejecting the whole) unless the operator token is accepted.
        cli(['bin/sluice.js', 'dlq', 'list', '--url', url!]),
        // Without the operator token (another data dir, no token): an anonymous caller.
        cli(['bin/sluice.js', 'call', 'payment.refund', '{"orderId":"ord_x"}', '--url', url!], anonymous).catch((e: { code: number; stderr: string }) => e),
      ]);
      expect(stdout).toMatch(/accepted ord_\S+ \(PENDING\)/);
      expect(stdout).toMatch(/#4 OrderConfirmed/);
      expect(JSON.parse(echoed.stdout)).toEqual({ hello: 'sluice' });
      expect(refund).toMatchObject({ code: 1, stderr: expect.stringContaining('PERMISSION_DENIED') });
      process.kill(-proc.pid!, 'SIGINT');
      await exited;
      expect(demo.output()).toContain('stopped');
      await expect(fetch(`${admin}/healthz`)).rejects.toThrow();
    } finally {
      // The whole group (npm, its shell, the demo's supervisor), waited for: nothing outlives the test.
      await stopProcessGroup(proc.pid!);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 150_000);
});
