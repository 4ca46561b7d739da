/**
 * The Sluice dashboard: connects to the gateway with the browser client and
 * draws the `sluice.stats` stream. It paces itself by demand: the next
 * snapshot is requested only after the previous one is rendered (and
 * browsers stop animation frames in hidden tabs, so a hidden dashboard asks
 * for nothing). Every stored series is bounded.
 */
import { connect, type Client } from '../../client/browser.js';
import type { StatsSnapshot } from '../../observability/stats.js';
import { RouteChart } from './charts.js';
import { CheckoutPanel, describe } from './checkout-panel.js';
import { StatusBadge } from './status.js';
import { renderDurable, renderInstances, renderRoutes } from './tables.js';

interface DashboardConfig {
  gatewayUrl: string;
  statsIntervalMs: number;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: #${id} missing from the page`);
  return el as T;
};

async function main(): Promise<void> {
  const badge = new StatusBadge($('conn'));
  let client: Client | undefined;
  new CheckoutPanel(
    { form: $<HTMLFormElement>('order-form'), sku: $<HTMLInputElement>('sku'), qty: $<HTMLInputElement>('qty'), button: $<HTMLButtonElement>('place'), status: $('order-status'), events: $('order-events') },
    () => client,
  );
  let config: DashboardConfig;
  try {
    config = (await (await fetch('config.json')).json()) as DashboardConfig;
  } catch (err) {
    badge.error(`cannot read config.json: ${(err as Error).message}`);
    return;
  }
  const url = reachable(config.gatewayUrl);
  $('gateway').textContent = url;
  try {
    client = await connect({ url, reconnect: { initialDelayMs: 250, maxDelayMs: 5_000 }, onStatus: (s) => badge.update(s) });
  } catch (err) {
    badge.error(describe(err));
    return;
  }
  await followStats(client, badge, config.statsIntervalMs);
}

/** Subscribes to sluice.stats for as long as the page lives, resubscribing after every reconnect. */
async function followStats(client: Client, badge: StatusBadge, intervalMs: number): Promise<void> {
  const charts = {
    rate: new RouteChart($('chart-rate'), 'items/s'),
    demand: new RouteChart($('chart-demand'), 'items'),
    inFlight: new RouteChart($('chart-inflight'), 'streams'),
  };
  const count = $('snapshot-count');
  const streamError = $('stats-error');
  const at = $('snapshot-at');
  let received = 0;
  for (;;) {
    await badge.connected();
    try {
      // prefetch 1: one snapshot requested at a time, the next only when the loop asks for it.
      for await (const snap of client.iterateStream<StatsSnapshot>('sluice.stats', { intervalMs }, { prefetch: 1 })) {
        const t = snap.at / 1000;
        charts.rate.push(t, new Map(snap.routes.map((r) => [r.route, r.ratePerSec.toRequester + r.ratePerSec.toResponder])));
        charts.demand.push(t, new Map(snap.routes.map((r) => [r.route, r.demand.producer])));
        charts.inFlight.push(t, new Map(snap.routes.map((r) => [r.route, r.inFlight])));
        renderRoutes($('routes-body'), snap.routes);
        renderInstances($('instances-body'), $('connections'), snap);
        renderDurable($('durable'), $('durable-body'), snap.durable);
        for (const c of Object.values(charts)) c.render();
        count.textContent = String(++received);
        streamError.textContent = '';
        at.textContent = new Date(snap.at).toLocaleTimeString();
        await nextFrame();
      }
    } catch (err) {
      // Disconnects surface on the badge; anything else is shown until the stream is back.
      if (client.connected) streamError.textContent = `sluice.stats failed: ${describe(err)}; retrying`;
      await sleep(1_000);
    }
  }
}

/** A gateway listening on a wildcard address is reached at the host this page came from. */
function reachable(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = location.hostname;
  return u.toString().replace(/\/$/, '');
}

function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

void main();
