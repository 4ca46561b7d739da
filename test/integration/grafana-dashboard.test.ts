/**
 * The Grafana dashboard in docs/grafana/sluice.json reads only metrics a real
 * gateway exports, and shows every one of Sluice's own metric families (so a
 * new metric without a panel, or a renamed one, fails here).
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { metricsText, useHarness } from '../helpers/harness.js';

const h = useHarness();

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string }[];
}

describe('Grafana dashboard', () => {
  it('references only metrics the gateway exports, and every Sluice metric family', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../../docs/grafana/sluice.json', import.meta.url), 'utf8')) as {
      panels: Panel[];
      templating: { list: { query: string | { query: string } }[] };
    };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query)),
    ];
    const referenced = new Set(exprs.flatMap((e) => e.match(/\bsluice_[a-z0-9_]+/g) ?? []));
    expect(referenced.size).toBeGreaterThan(20);

    const gw = await h.gateway();
    const families = new Map<string, string>();
    for (const line of (await metricsText(gw)).split('\n')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) families.set(m[1]!, m[2]!);
    }
    const exported = (name: string): boolean => {
      if (families.has(name)) return true;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return base !== name && families.get(base) === 'histogram';
    };
    expect([...referenced].filter((n) => !exported(n))).toEqual([]);

    // Sluice's own families (not the Node.js process defaults) each appear on some panel.
    const own = [...families.keys()].filter((n) => !/^sluice_(process|nodejs)_/.test(n));
    const shown = (n: string) => [...referenced].some((r) => r === n || r.replace(/_(bucket|sum|count)$/, '') === n);
    expect(own.filter((n) => !shown(n))).toEqual([]);
  });

  it('is well formed: unique panel ids, every query panel on the datasource variable', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../../docs/grafana/sluice.json', import.meta.url), 'utf8')) as { uid: string; panels: Panel[] };
    expect(dashboard.uid).toBe('sluice-gateway');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
  });
});
