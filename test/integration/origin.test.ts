/**
 * Finding: a web page from any origin could open a WebSocket to the gateway
 * and call internal routes. Browsers send the page's Origin with the
 * upgrade; the gateway now answers 403 to every origin but the admin
 * server's own (the dashboard) and the configured ones, while clients that
 * send no Origin (Node, services) are unaffected.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { metricValue, metricsText, useHarness } from '../helpers/harness.js';

const h = useHarness();

/** Opens a WebSocket sending `origin`; resolves with 'open' or the HTTP status of the refusal. */
function upgrade(url: string, origin?: string): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('browser origins', () => {
  it('Origin https://evil.example gets HTTP 403 at the upgrade and is counted; no Origin and the dashboard\'s origin connect', async () => {
    const gw = await h.gateway();
    await h.service({ url: gw.url, service: 'bench' });
    expect(await upgrade(gw.url, 'https://evil.example')).toBe(403);
    expect(await upgrade(gw.url, 'http://127.0.0.1:1')).toBe(403);
    expect(await upgrade(gw.url, 'null')).toBe(403);
    expect(await upgrade(gw.url)).toBe('open');
    const admin = new URL(gw.adminUrl!);
    expect(await upgrade(gw.url, admin.origin)).toBe('open');
    expect(await upgrade(gw.url, `http://localhost:${admin.port}`)).toBe('open');
    expect(metricValue(await metricsText(gw), 'sluice_connections_refused_total', { reason: 'origin' })).toBe(3);
    // The Node client sends no Origin: unaffected.
    const client = await h.client(gw.url);
    expect(await client.requestResponse('bench.echo', { ok: 1 })).toEqual({ ok: 1 });
  });

  it('configured origins are allowed besides the admin server\'s; "*" allows any', async () => {
    const gw = await h.gateway({ listen: { allowedOrigins: ['https://app.example'] } });
    expect(await upgrade(gw.url, 'https://app.example')).toBe('open');
    expect(await upgrade(gw.url, new URL(gw.adminUrl!).origin)).toBe('open');
    expect(await upgrade(gw.url, 'https://evil.example')).toBe(403);
    const open = await h.gateway({ listen: { allowedOrigins: ['*'] } });
    expect(await upgrade(open.url, 'https://evil.example')).toBe('open');
  });

  it('without an admin server only configured origins are allowed', async () => {
    const gw = await h.gateway({ admin: { enabled: false } });
    expect(await upgrade(gw.url, 'http://127.0.0.1:7879')).toBe(403);
    expect(await upgrade(gw.url)).toBe('open');
  });
});
