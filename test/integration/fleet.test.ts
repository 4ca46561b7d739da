/**
 * A fleet of gateways, with real processes on loopback: services connected
 * to every gateway (a URL list, or discovery in NATS KV), clients failing
 * over when the gateway they use is killed with SIGKILL under load, and an
 * instance's concurrency cap holding across gateways.
 */
import { describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import type { Client, ConnectionStatus } from '../../clients/node/index.js';
import { startChild, type Child } from '../../examples/checkout/src/supervisor.js';
import { natsDiscovery } from '../../src/fleet/nats-discovery.js';
import { connectNats, openFleetBucket } from '../../src/fleet/nats-connection.js';
import type { RouteTable } from '../../src/service/handlers.js';
import { SluiceError } from '../../src/errors.js';
import { eventually, useHarness } from '../helpers/harness.js';
import { requireNatsServer, startNatsCluster, startNatsServer } from '../helpers/nats-cluster.js';

const h = useHarness();

interface GatewayProcess {
  child: Child;
  url: string;
  adminUrl: string;
}

async function gatewayProcess(name: string, extra: string[] = []): Promise<GatewayProcess> {
  const child = startChild({ name, args: ['gateway', '--port', '0', '--admin-port', '0', ...extra], env: { SLUICE_LOG_LEVEL: process.env.SLUICE_TEST_LOG ?? 'silent' } }, 'ignore');
  h.onCleanup(() => child.stop(2_000));
  const { url, adminUrl } = await child.message<{ url: string; adminUrl: string }>('listening', 20_000);
  return { child, url, adminUrl };
}

function killed(child: Child): Promise<void> {
  return new Promise((resolve) => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
    child.process.once('exit', () => resolve());
    child.process.kill('SIGKILL');
  });
}

/** A gate a handler waits on, opened by the test. */
function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/**
 * An idempotent ledger: each id's effect is applied once however often it
 * is delivered (what `idempotent` promises the gateway and clients), and
 * every delivery is counted so duplicates show.
 */
function ledger() {
  const deliveries = new Map<number, number>();
  const applied: number[] = [];
  const holdIdempotent = { reached: gate(), release: gate() };
  const holdOnce = { reached: gate(), release: gate() };
  const routes: RouteTable = {
    'ledger.apply': {
      idempotent: true,
      requestResponse: ({ id }: { id: number }) => {
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        if (deliveries.get(id) === 1) applied.push(id);
        return { id };
      },
    },
    // In flight when the gateway dies: the first delivery never answers; the retry does.
    'ledger.hold': {
      idempotent: true,
      requestResponse: async ({ id }: { id: number }) => {
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        if (deliveries.get(id) === 1) {
          applied.push(id);
          holdIdempotent.reached.open();
          await holdIdempotent.release.opened;
        }
        return { id };
      },
    },
    'ledger.once': {
      requestResponse: async () => {
        holdOnce.reached.open();
        await holdOnce.release.opened;
        return { done: true };
      },
    },
  };
  return { deliveries, applied, routes, holdIdempotent, holdOnce };
}

const nats = requireNatsServer();

/** Two gateway processes and a service connected to both: by URL list, or through NATS KV discovery. */
async function twoGateways(mode: 'list' | 'kv', routes: RouteTable) {
  if (mode === 'list') {
    const [a, b] = await Promise.all([gatewayProcess('gw-a'), gatewayProcess('gw-b')]);
    return { a, b, svc: await h.service({ url: [a.url, b.url], service: 'ledger', routes }) };
  }
  const server = await startNatsServer();
  h.onCleanup(() => server.stop());
  const fleet = ['--nats', server.servers.join(','), '--fleet-ttl-ms', '1500'];
  const [a, b] = await Promise.all([gatewayProcess('gw-a', [...fleet, '--fleet-id', 'gw-a']), gatewayProcess('gw-b', [...fleet, '--fleet-id', 'gw-b'])]);
  return { a, b, svc: await h.service({ service: 'ledger', routes, discovery: natsDiscovery({ servers: server.servers }) }) };
}

describe('a fleet of gateways', () => {
  it.each(nats ? (['list', 'kv'] as const) : (['list'] as const))('clients fail over when their gateway is killed under load (services by %s): within 2 s, no accepted request lost, duplicates only from retried in-flight ones', async (mode) => {
    const l = ledger();
    const { a, b, svc } = await twoGateways(mode, l.routes);
    await eventually(() => svc.connectedGateways === 2, 'the service registered with both gateways', 400);

    const statuses: Array<{ at: number; status: ConnectionStatus }> = [];
    let onConnected: (() => void) | undefined;
    const client: Client = await h.client([a.url, b.url], {
      firstUrl: 'first',
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      onStatus: (status) => {
        statuses.push({ at: performance.now(), status });
        if (status.state === 'connected') onConnected?.();
      },
    });
    expect(client.url).toBe(a.url);

    // Two requests held in flight at the service through gateway A: one idempotent, one not.
    const held = client.requestResponse<{ id: number }>('ledger.hold', { id: -1 }, { idempotent: true });
    // Settled into a value now: it rejects at the kill, long before the test looks at it.
    const once = client.requestResponse('ledger.once', {}).then(() => undefined, (e: unknown) => e);
    await Promise.all([l.holdIdempotent.reached.opened, l.holdOnce.reached.opened]);

    // Bounded closed-loop load: 16 workers, 1500 idempotent requests.
    const total = 1500;
    const concurrency = 16;
    let next = 0;
    let answered = 0;
    let killedAt = 0;
    let firstAnswerAfterKill = 0;
    const answers = new Map<number, number>();
    const notSent: number[] = [];
    const reconnected = () => new Promise<void>((resolve) => (client.connected ? resolve() : (onConnected = resolve)));
    let kill: Promise<void> | undefined;
    const worker = async () => {
      while (next < total) {
        const id = next++;
        for (;;) {
          try {
            const r = await client.requestResponse<{ id: number }>('ledger.apply', { id }, { idempotent: true });
            answers.set(id, r.id);
            answered++;
            if (killedAt && !firstAnswerAfterKill && client.url === b.url) firstAnswerAfterKill = performance.now();
            break;
          } catch (err) {
            // Refused before it was sent (no connection at that instant): not accepted, so the caller sends it again once connected.
            const e = SluiceError.from(err);
            if (e.code !== 'UNAVAILABLE' || client.connected) throw e;
            notSent.push(id);
            await reconnected();
          }
        }
        if (answered === 300 && !kill) {
          killedAt = performance.now();
          kill = killed(a.child);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await kill;

    // Failed over to B within 2 s of the kill.
    const back = statuses.find((s) => s.at > killedAt && s.status.state === 'connected');
    expect(back?.status).toEqual({ state: 'connected', url: b.url });
    expect(back!.at - killedAt).toBeLessThan(2_000);
    expect(firstAnswerAfterKill - killedAt).toBeLessThan(2_000);
    expect(client.url).toBe(b.url);

    // Every request answered with its own id, and applied exactly once at the service.
    expect(answers.size).toBe(total);
    for (const [id, r] of answers) expect(r).toBe(id);
    const appliedIds = l.applied.filter((id) => id >= 0);
    expect(new Set(appliedIds).size).toBe(appliedIds.length);
    expect(appliedIds.sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i));
    // A duplicate delivery can only be a request in flight at the kill that the client sent again: at most one per worker.
    const duplicated = [...l.deliveries].filter(([id, n]) => id >= 0 && n > 1);
    expect(duplicated.every(([, n]) => n === 2)).toBe(true);
    expect(duplicated.length).toBeLessThanOrEqual(concurrency);

    // The held idempotent request was sent again through B and answered; the other one's outcome is unknown.
    await expect(held).resolves.toEqual({ id: -1 });
    expect(l.deliveries.get(-1)).toBe(2);
    expect(await once).toMatchObject({ code: 'OUTCOME_UNKNOWN' });
    l.holdIdempotent.release.open();
    l.holdOnce.release.open();
    // The service lost gateway A and keeps serving through B.
    await eventually(() => svc.connectedGateways === 1, 'the service noticed gateway A is gone');
    process.stdout.write(`fleet failover (${mode}): reconnected ${(back!.at - killedAt).toFixed(0)} ms after the kill, first answer through B ${(firstAnswerAfterKill - killedAt).toFixed(0)} ms; ${duplicated.length} duplicate deliveries, ${notSent.length} refused unsent while disconnected\n`);
  }, 60_000);

  it("an instance's maxConcurrent holds over all its gateways together", async () => {
    const [a, b] = await Promise.all([h.gateway(), h.gateway()]);
    const l = ledger();
    const svc = await h.service({ url: [a.url, b.url], service: 'ledger', routes: l.routes, maxConcurrent: 1 });
    await eventually(() => svc.connectedGateways === 2, 'the service registered with both gateways');
    const viaA = await h.client(a.url);
    const viaB = await h.client(b.url);
    const first = viaA.requestResponse('ledger.once', {});
    await l.holdOnce.reached.opened;
    expect(svc.inFlight).toBe(1);
    // Its only slot is taken through A: B's request is refused by the instance itself.
    await expect(viaB.requestResponse('ledger.apply', { id: 1 })).rejects.toMatchObject({ code: 'OVERLOADED' });
    l.holdOnce.release.open();
    await expect(first).resolves.toEqual({ done: true });
    await expect(viaB.requestResponse('ledger.apply', { id: 1 })).resolves.toEqual({ id: 1 });
    expect(svc.inFlight).toBe(0);
  });

  it('a client given only dead URLs keeps trying and connects when a gateway comes up at one of them', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'ledger', routes: ledger().routes });
    const dead = 'ws://127.0.0.1:1';
    const client = await h.client([dead, gw.url], { firstUrl: 'first', reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    expect(client.url).toBe(gw.url);
    await expect(client.requestResponse('ledger.apply', { id: 7 })).resolves.toEqual({ id: 7 });
  });
});

describe.skipIf(!nats)(`gateways found in NATS KV${nats ? '' : ' (skipped: nats-server not installed)'}`, () => {
  it('services connect to every registered gateway, drop a killed one after its TTL, and join a new one', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const fleet = ['--nats', server.servers.join(','), '--fleet-ttl-ms', '1500'];
    const [a, b] = await Promise.all([gatewayProcess('gw-a', [...fleet, '--fleet-id', 'gw-a']), gatewayProcess('gw-b', [...fleet, '--fleet-id', 'gw-b'])]);
    const l = ledger();
    const changes: string[][] = [];
    const discovery = natsDiscovery({ servers: server.servers });
    const svc = await h.service({
      service: 'ledger',
      routes: l.routes,
      discovery: { describe: () => discovery.describe(), watch: (onChange) => discovery.watch((urls) => (changes.push([...urls]), onChange(urls))) },
    });
    await eventually(() => svc.connectedGateways === 2, 'the service registered with both gateways', 400);
    expect([...svc.gateways].sort()).toEqual([a.url, b.url].sort());
    for (const gw of [a, b]) {
      const c = await h.client(gw.url);
      await expect(c.requestResponse('ledger.apply', { id: 1 })).resolves.toEqual({ id: 1 });
    }

    // B dies without a word: its entry stops being renewed and the service lets it go after the TTL.
    await killed(b.child);
    await eventually(() => !svc.gateways.includes(b.url), 'the service dropped the killed gateway', 400);
    expect(svc.gateways).toEqual([a.url]);

    // C joins: the service connects to it without being told anything but the bucket.
    const c = await gatewayProcess('gw-c', [...fleet, '--fleet-id', 'gw-c']);
    await eventually(() => svc.gateways.includes(c.url) && svc.connectedGateways === 2, 'the service joined the new gateway', 400);
    const viaC = await h.client(c.url);
    await expect(viaC.requestResponse('ledger.apply', { id: 2 })).resolves.toEqual({ id: 2 });

    // A stops cleanly: it deletes its entry on the way out, and the service lets it go.
    await a.child.stop(5_000);
    await eventually(() => !svc.gateways.includes(a.url), 'the service dropped the stopped gateway', 400);
    expect(svc.gateways).toEqual([c.url]);
    expect(changes.length).toBeGreaterThanOrEqual(4);
  }, 90_000);

  it('on a 3-node JetStream cluster, losing one NATS node loses no gateway: the service still drops a killed gateway and joins a new one', async () => {
    const cluster = await startNatsCluster();
    h.onCleanup(() => cluster.stop());
    const fleet = ['--nats', cluster.servers.join(','), '--fleet-ttl-ms', '1500', '--nats-replicas', '3'];
    const [a, b] = await Promise.all([gatewayProcess('gw-a', [...fleet, '--fleet-id', 'gw-a']), gatewayProcess('gw-b', [...fleet, '--fleet-id', 'gw-b'])]);
    const svc = await h.service({ service: 'ledger', routes: ledger().routes, discovery: natsDiscovery({ servers: cluster.servers, replicas: 3 }) });
    await eventually(() => svc.connectedGateways === 2, 'the service registered with both gateways', 400);

    // Watched from the nodes that survive: opened before the kill, while JetStream has its leaders.
    const nc = await connectNats(cluster.servers.slice(1), 'fleet-test');
    h.onCleanup(() => nc.close());
    const kv = await openFleetBucket(nc, 'sluice_gateways', 4_500, 3);
    const watch = await kv.watch({ key: '>', include: 'updates' });
    // One NATS node dies: the gateways keep their entries alive through the others (R3 keeps a quorum).
    await cluster.nodes[0]!.kill();
    // Each gateway renews its entry 4 times after the kill (every 500 ms: longer than its 1500 ms TTL).
    const renewals = new Map<string, number>();
    for await (const e of watch) {
      renewals.set(e.key, (renewals.get(e.key) ?? 0) + 1);
      if ((renewals.get('gw-a') ?? 0) >= 4 && (renewals.get('gw-b') ?? 0) >= 4) break;
    }
    watch.stop();
    // The service's own watch survived the node too: with no renewal seen it would have dropped both by now.
    expect([...svc.gateways].sort()).toEqual([a.url, b.url].sort());
    expect(svc.connectedGateways).toBe(2);

    // The fleet still changes as it should.
    await killed(b.child);
    await eventually(() => !svc.gateways.includes(b.url), 'the service dropped the killed gateway', 600);
    const c = await gatewayProcess('gw-c', [...fleet, '--fleet-id', 'gw-c']);
    await eventually(() => svc.gateways.includes(c.url) && svc.connectedGateways === 2, 'the service joined the new gateway', 600);
    const viaC = await h.client(c.url);
    await expect(viaC.requestResponse('ledger.apply', { id: 3 })).resolves.toEqual({ id: 3 });
  }, 180_000);

  it('a gateway that cannot reach NATS at start fails with UNAVAILABLE naming the servers', async () => {
    const child = startChild({ name: 'gw-x', args: ['gateway', '--port', '0', '--admin-port', '0', '--nats', 'nats://127.0.0.1:1'], env: { SLUICE_LOG_LEVEL: 'silent' } }, 'pipe');
    h.onCleanup(() => child.stop(2_000));
    let stderr = '';
    child.process.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.process.once('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/UNAVAILABLE|cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
