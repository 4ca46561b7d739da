/**
 * The README's quick start: `npm start` brings up the gateway and the demo
 * services as separate processes, prints where they are, serves bench.echo,
 * runs the checkout command it suggests, and Ctrl-C (SIGINT to the process
 * group, as a terminal sends it) stops all. The checkout stores go to a temp
 * data dir, not the repository's ./data.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connect } from '../../clients/node/index.js';

describe('npm start', () => {
  it('starts the demo, answers bench.echo, places the suggested order, and stops cleanly on Ctrl-C', async () => {
    const cwd = new URL('../..', import.meta.url).pathname;
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-quickstart-'));
    const proc = spawn('npm', ['start', '--silent'], {
      cwd,
      env: { ...process.env, SLUICE_PORT: '0', SLUICE_ADMIN_PORT: '0', SLUICE_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const check = () => (/Ctrl-C stops everything/.test(out) ? resolve() : undefined);
        proc.stdout.on('data', check);
        void exited.then(() => reject(new Error(`npm start exited early:\n${out}`)));
      });
      const url = /gateway\s+(ws:\/\/\S+)/.exec(out)?.[1];
      const admin = /admin\s+(http:\/\/\S+)/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect((await fetch(`${admin}/readyz`)).status).toBe(200);
      const client = await connect({ url: url! });
      expect(await client.requestResponse('bench.echo', { hello: 'sluice' })).toEqual({ hello: 'sluice' });
      client.close();
      // The command the banner suggests, as printed: it places an order and prints its events to the end.
      const tryIt = /^ {2}(node bin\/sluice\.js order .*)$/m.exec(out)?.[1];
      expect(tryIt).toBeDefined();
      const [, ...args] = tryIt!.split(/\s+/);
      const { stdout } = await promisify(execFile)(process.execPath, args, { cwd });
      expect(stdout).toMatch(/accepted ord_\S+ \(PENDING\)/);
      expect(stdout).toMatch(/#4 OrderConfirmed/);
      process.kill(-proc.pid!, 'SIGINT');
      await exited;
      expect(out).toContain('stopped');
      await expect(fetch(`${admin}/healthz`)).rejects.toThrow();
    } finally {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
