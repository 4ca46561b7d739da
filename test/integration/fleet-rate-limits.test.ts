/**
 * A route's per-identity rate limit shared by two gateway processes through
 * a real nats-server: one caller hitting both gets about the route's limit,
 * not twice it; with NATS gone, each gateway falls back to enforcing the
 * whole limit itself. Counts of admitted and refused requests are checked
 * against the policy's arithmetic over the elapsed time the test measured,
 * with tolerances derived from the exchange interval.
 */
import { describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import type { Client } from '../../clients/node/index.js';
import { startChild, type Child } from '../../examples/checkout/src/supervisor.js';
import { connectNats } from '../../src/fleet/nats-connection.js';
import { rateSubject } from '../../src/fleet/shared-rate-limits.js';
import { DEFAULT_FLEET_BUCKET } from '../../src/fleet/gateway-entry.js';
import { SluiceError } from '../../src/errors.js';
import { eventually, useHarness } from '../helpers/harness.js';
import { requireNatsServer, startNatsServer } from '../helpers/nats-cluster.js';

const h = useHarness();
const nats = requireNatsServer();

/** The route's policy and the exchange interval. */
const RATE = 40;
const BURST = 4;
const INTERVAL_MS = 100;

interface GatewayProcess {
  child: Child;
  url: string;
  adminUrl: string;
}

async function gatewayProcess(name: string, extra: string[]): Promise<GatewayProcess> {
  const child = startChild(
    {
      name,
      args: ['gateway', '--port', '0', '--admin-port', '0', '--fleet-id', name, '--fleet-rate-interval-ms', String(INTERVAL_MS), '--policy', `ledger.apply:rateLimit={"ratePerSec":${RATE},"burst":${BURST}}`, ...extra],
      env: { SLUICE_LOG_LEVEL: process.env.SLUICE_TEST_LOG ?? 'silent' },
    },
    'ignore',
  );
  h.onCleanup(() => child.stop(2_000));
  const { url, adminUrl } = await child.message<{ url: string; adminUrl: string }>('listening', 20_000);
  return { child, url, adminUrl };
}

/** Sum of a metric's samples whose labels contain `labels` (0 when absent). */
async function metric(gw: GatewayProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Closed-loop load on `ledger.apply` through each client (`workers` each),
 * until `ms` have passed on the test's clock: what each was answered, and
 * the elapsed time measured. A bounded number of requests: at most `cap`.
 */
async function load(clients: Client[], ms: number, workers = 2, cap = 15_000) {
  const counts = clients.map(() => ({ ok: 0, limited: 0 }));
  let sent = 0;
  const start = performance.now();
  const worker = async (i: number) => {
    while (performance.now() - start < ms && sent < cap) {
      sent++;
      try {
        await clients[i]!.requestResponse('ledger.apply', { id: sent });
        counts[i]!.ok++;
      } catch (err) {
        const e = SluiceError.from(err);
        if (e.code !== 'OVERLOADED' || !/rate limit/.test(e.message)) throw e;
        counts[i]!.limited++;
      }
    }
  };
  await Promise.all(clients.flatMap((_, i) => Array.from({ length: workers }, () => worker(i))));
  return { counts, seconds: (performance.now() - start) / 1000, sent };
}

describe.skipIf(!nats)(`rate limits shared by a fleet${nats ? '' : ' (skipped: nats-server not installed)'}`, () => {
  it('one caller on two gateways gets about the route limit, not twice it; with NATS gone each gateway enforces the whole limit alone', async () => {
    const server = await startNatsServer();
    h.onCleanup(() => server.stop());
    const fleet = ['--nats', server.servers.join(',')];
    const [a, b] = await Promise.all([gatewayProcess('gw-a', fleet), gatewayProcess('gw-b', fleet)]);
    await h.service({ url: [a.url, b.url], service: 'ledger', routes: { 'ledger.apply': { requestResponse: ({ id }: { id: number }) => ({ id }) } } });
    // One caller: the same identity (its address, auth being off) on both gateways.
    const [viaA, viaB] = [await h.client(a.url), await h.client(b.url)];
    await eventually(async () => (await metric(a, 'sluice_instances')) > 0 && (await metric(b, 'sluice_instances')) > 0, 'the service registered with both gateways', 400);

    // Garbage on the fleet's subject is counted and ignored, never trusted.
    const nc = await connectNats(server.servers, 'rate-test');
    h.onCleanup(() => nc.close().catch(() => {}));
    nc.publish(rateSubject(DEFAULT_FLEET_BUCKET), new TextEncoder().encode('{"v":1,"gw":"gw-x","ms":100,"k":["tag",1e99]}'));
    nc.publish(rateSubject(DEFAULT_FLEET_BUCKET), new Uint8Array([0xff]));
    await nc.flush();
    await eventually(async () => (await metric(a, 'sluice_fleet_rate_reports_received_total', 'result="malformed"')) === 2 && (await metric(b, 'sluice_fleet_rate_reports_received_total', 'result="malformed"')) === 2, 'both gateways counted the malformed reports', 400);

    // Shared: 5 s of load, 50 intervals.
    const shared = await load([viaA, viaB], 5_000);
    const okShared = shared.counts[0]!.ok + shared.counts[1]!.ok;
    const limit = RATE * shared.seconds;
    // Upper bound from the policy's arithmetic: the limit over the run, each gateway's burst, each admitting the whole
    // limit until the first exchange (about 2 intervals), and 25% for the shares lagging one interval behind the demand
    // they split (each gateway's demand varies between intervals on a shared machine).
    const upper = 1.25 * limit + 2 * BURST + 2 * RATE * ((2 * INTERVAL_MS) / 1000);
    // Without sharing each gateway would admit its whole limit: 2 x limit + 2 x burst.
    expect(okShared).toBeLessThanOrEqual(upper);
    expect(upper).toBeLessThan(2 * limit);
    // Not starved: the caller asked far more than the limit through both, so the fleet admits most of it.
    expect(okShared).toBeGreaterThanOrEqual(0.6 * limit);
    expect(shared.counts[0]!.limited + shared.counts[1]!.limited).toBeGreaterThan(okShared);
    for (const gw of [a, b]) {
      expect(await metric(gw, 'sluice_fleet_rate_reports_sent_total', 'result="published"')).toBeGreaterThan(0);
      expect(await metric(gw, 'sluice_fleet_rate_reports_received_total', 'result="applied"')).toBeGreaterThan(0);
      expect(await metric(gw, 'sluice_fleet_nats_connected')).toBe(1);
    }

    // NATS gone: each gateway hears nobody, ages the other's numbers out and restores its buckets to the whole limit.
    await server.stop();
    for (const gw of [a, b]) {
      await eventually(async () => (await metric(gw, 'sluice_fleet_nats_connected')) === 0, `${gw.child.name} noticed NATS is gone`, 400);
      await eventually(async () => (await metric(gw, 'sluice_fleet_rate_remote_keys')) === 0 && (await metric(gw, 'sluice_fleet_rate_lowered_keys')) === 0, `${gw.child.name} fell back to the whole limit`, 400);
    }
    const alone = await load([viaA, viaB], 3_000);
    const limitAlone = RATE * alone.seconds;
    for (const c of alone.counts) {
      // Each gateway still enforces the route's limit by itself (burst, and one interval at a lowered rate at most).
      expect(c.ok).toBeLessThanOrEqual(limitAlone + BURST + RATE * (INTERVAL_MS / 1000));
      expect(c.ok).toBeGreaterThanOrEqual(0.6 * limitAlone);
      expect(c.limited).toBeGreaterThan(0);
    }
    // ...and no longer shares it: together they admit well above one limit.
    expect(alone.counts[0]!.ok + alone.counts[1]!.ok).toBeGreaterThan(1.3 * limitAlone);
    for (const gw of [a, b]) expect(await metric(gw, 'sluice_fleet_rate_reports_sent_total', 'result="unsent"')).toBeGreaterThan(0);
    process.stdout.write(
      `fleet rate limits: shared ${okShared} admitted in ${shared.seconds.toFixed(2)} s (limit ${limit.toFixed(0)}, ${shared.sent} sent; A ${shared.counts[0]!.ok}, B ${shared.counts[1]!.ok}); ` +
        `NATS down: A ${alone.counts[0]!.ok}, B ${alone.counts[1]!.ok} in ${alone.seconds.toFixed(2)} s (limit ${limitAlone.toFixed(0)} each)\n`,
    );
  }, 90_000);
});
