import { describe, expect, it } from 'vitest';
import { startChild } from '../../../checkout/src/supervisor.js';
import { Processes } from '../../src/processes.js';
import { ScaleClients } from '../../src/peers/scale-clients.js';
import { useHarness } from '../../../../test/helpers/harness.js';

/**
 * The scale scenario must hear at once when a load generator's stream is
 * refused, its connection is closed, or a process dies, with the cause,
 * instead of waiting out a step's timeout.
 */
describe('scale scenario: failures reach the scenario at once, with their cause', () => {
  const h = useHarness();

  it('a load generator process whose streams are refused fails the step with the code and how many were open', async () => {
    // Room for 5 bench.source streams per client identity at the gateway, no queue: the 6th is refused OVERLOADED.
    const gw = await h.gateway({ policies: { defaults: {}, routes: { 'bench.source': { bulkhead: { maxConcurrent: 5, maxQueue: 0, maxPerIdentity: 5 } } } } });
    await h.service({ url: gw.url, service: 'bench' });
    const processes = new Processes();
    h.onCleanup(() => processes.stopAll());
    const { child, failure } = await processes.peer('scale-clients', ['--url', gw.url, '--local-address', '127.0.0.1', '--connections', '2', '--streams', '8'], 'connected');
    child.process.send({ type: 'open' });
    // No timeout of the step's own: the refusal alone settles the race.
    const step = Promise.race([child.message('opened', 60_000), failure]);
    await expect(step).rejects.toThrow(/scale-clients: a bench\.source stream was refused or ended while opening \(5 of 8 open\): OVERLOADED: this client already has its share of 5 concurrent interactions on route 'bench\.source'/);
  });

  it('a connection the gateway closes is reported once, with its cause; closing them itself is not', async () => {
    const gw = await h.gateway({ limits: { idleTimeoutMs: 200 } });
    const lost: string[] = [];
    let heard!: () => void;
    const reported = new Promise<void>((resolve) => (heard = resolve));
    const clients = new ScaleClients({
      url: gw.url,
      localAddress: '127.0.0.1',
      connections: 3,
      streams: 3,
      onLost: (reason) => {
        lost.push(reason);
        heard();
      },
    });
    h.onCleanup(() => clients.close());
    expect(await clients.connect()).toBe(3);
    // No stream opened: the gateway closes each connection as idle.
    await reported;
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(/^connection \d of 3 from 127\.0\.0\.1 closed: CONNECTION_CLOSED: idle for 200 ms/);

    const quiet = new ScaleClients({ url: gw.url, localAddress: '127.0.0.1', connections: 2, streams: 2, onLost: (reason) => lost.push(reason) });
    await quiet.connect();
    quiet.close();
    expect(lost).toHaveLength(1);
  });

  it('a process that reports failed, or exits unasked, rejects its failure; one asked to stop does not', async () => {
    const processes = new Processes();
    h.onCleanup(() => processes.stopAll());
    const node = (script: string) => startChild({ name: 'peer', program: ['-e', script], args: [] }, 'ignore');

    const failing = node("process.send({ type: 'failed', error: 'gateway refused: OVERLOADED' }); setInterval(() => {}, 1000)");
    h.onCleanup(() => failing.stop(1_000));
    await expect(processes.failure(failing)).rejects.toThrow('peer: gateway refused: OVERLOADED');

    const crashing = node('process.exit(3)');
    await expect(processes.failure(crashing)).rejects.toThrow(/peer \(pid \d+\) exited unasked \(code 3\)/);

    const stopped = node("process.send({ type: 'up' }); setInterval(() => {}, 1000)");
    const outcome = processes.failure(stopped).then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await stopped.message('up', 10_000);
    await processes.stop(stopped);
    // The exit was seen (stop resolved after it); a rejection would have settled `outcome` by the next macrotask.
    const settled = await Promise.race([outcome, new Promise((resolve) => setImmediate(() => resolve('pending')))]);
    expect(settled).toBe('pending');
  });
});
