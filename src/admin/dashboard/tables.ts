/** The routes, durable routes and instances tables, rebuilt from each snapshot (tens of rows: cheap). */
import type { DurableStats, RouteStats, StatsSnapshot } from '../../observability/stats.js';

const UNBOUNDED = 0x7fffffff;

export function renderRoutes(tbody: HTMLElement, routes: readonly RouteStats[]): void {
  const rows = routes.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.route = r.route;
    tr.dataset.breaker = r.breaker;
    const errors = Object.entries(r.errors).map(([code, n]) => `${code} ${n}`).join(', ');
    cells(tr, [
      ['route', r.route],
      ['rate', fmt(r.ratePerSec.toRequester + r.ratePerSec.toResponder)],
      ['inflight', String(r.inFlight)],
      ['demand-consumer', r.demand.consumer >= UNBOUNDED ? '∞' : String(r.demand.consumer)],
      ['demand-producer', String(r.demand.producer)],
      ['buffered', r.buffered.bytes > 0 ? `≈${r.buffered.items} / ${bytes(r.buffered.bytes)}` : '0'],
      ['errors', errors || '–'],
      ['breaker', r.breaker],
    ]);
    return tr;
  });
  tbody.replaceChildren(...rows);
}

export function renderInstances(tbody: HTMLElement, connectionsEl: HTMLElement, snap: StatsSnapshot): void {
  const rows = snap.instances.map((i) => {
    const tr = document.createElement('tr');
    tr.dataset.instance = `${i.service}/${i.instance}`;
    cells(tr, [
      ['service', i.service],
      ['instance', i.instance],
      ['active', String(i.active)],
      ['routes', i.routes.join(', ')],
    ]);
    return tr;
  });
  tbody.replaceChildren(...rows);
  connectionsEl.textContent = `${snap.connections.client} client and ${snap.connections.service} service connections`;
}

/** Durable routes: what waits, how old the oldest is, what is with services, and what failed. */
export function renderDurable(section: HTMLElement, tbody: HTMLElement, durable: readonly DurableStats[] | undefined): void {
  section.hidden = !durable || durable.length === 0;
  const rows = (durable ?? []).map((d) => {
    const tr = document.createElement('tr');
    tr.dataset.route = d.route;
    cells(tr, [
      ['route', d.route],
      ['depth', String(d.depth)],
      ['oldest', d.oldestAgeMs >= 1000 ? `${(d.oldestAgeMs / 1000).toFixed(1)} s` : `${d.oldestAgeMs} ms`],
      ['inflight', String(d.inFlight)],
      ['redeliveries', String(d.redeliveries)],
      ['dead-lettered', String(d.deadLettered)],
    ]);
    return tr;
  });
  tbody.replaceChildren(...rows);
}

function cells(tr: HTMLElement, values: ReadonlyArray<readonly [string, string]>): void {
  for (const [cls, text] of values) {
    const td = document.createElement('td');
    td.className = cls;
    td.textContent = text;
    tr.append(td);
  }
}

function fmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(n < 10 && n % 1 !== 0 ? 1 : 0);
}

function bytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}
