/**
 * The admin server's /metrics behind an admin token: refused without a token
 * (401 with a Bearer challenge), with a bad one (401) and with a token whose
 * grant lacks admin (403); served to an admin token. Health and readiness stay
 * open for probes. Which gateways ask for the token by default.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, adminNeedsToken, resolveGatewayConfig } from '../../src/config.js';
import { useHarness } from '../helpers/harness.js';
import { mint, secretFile } from '../helpers/auth.js';

const h = useHarness();

const get = (url: string, token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('admin /metrics token', () => {
  it('with admin.requireToken, /metrics answers only an admin token; /healthz and /readyz need none', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h) }, admin: { requireToken: true } });
    const metrics = `${gw.adminUrl}/metrics`;

    const none = await get(metrics);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.text()).toMatch(/^UNAUTHENTICATED: \/metrics needs Authorization: Bearer/);

    const forged = await get(metrics, await mint('ops', { admin: true }, { secret: 'another-secret-another-secret-another' }));
    expect(forged.status).toBe(401);
    expect(await forged.text()).toMatch(/^UNAUTHENTICATED: /);

    const caller = await get(metrics, await mint('shop', { call: ['*'] }));
    expect(caller.status).toBe(403);
    expect(await caller.text()).toBe('PERMISSION_DENIED: sub:shop has no admin grant\n');

    const admin = await get(metrics, await mint('ops', { admin: true }));
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('# TYPE sluice_connections gauge');

    expect((await get(`${gw.adminUrl}/healthz`)).status).toBe(200);
    expect((await get(`${gw.adminUrl}/readyz`)).status).toBe(200);
  });

  it('by default a loopback admin server needs no token, even with auth on', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h) } });
    expect((await get(`${gw.adminUrl}/metrics`)).status).toBe(200);
  });

  it('asks for the token by default exactly when auth is on and the admin server is reachable from other machines', () => {
    const on = { secretFile: '/keys/secret' };
    expect(adminNeedsToken(resolveGatewayConfig({ auth: on, admin: { host: '0.0.0.0' } }))).toBe(true);
    expect(adminNeedsToken(resolveGatewayConfig({ auth: on, admin: { host: '127.0.0.1' } }))).toBe(false);
    expect(adminNeedsToken(resolveGatewayConfig({ auth: on, admin: { host: '0.0.0.0', requireToken: false } }))).toBe(false);
    expect(adminNeedsToken(resolveGatewayConfig({ admin: { host: '0.0.0.0' } }))).toBe(false);
    expect(() => resolveGatewayConfig({ admin: { requireToken: true } })).toThrow(ConfigError);
    expect(() => resolveGatewayConfig({ admin: { requireToken: true } })).toThrow(/admin\.requireToken.*auth is off/);
    expect(() => resolveGatewayConfig({ admin: { requireToken: 'yes' as unknown as boolean } })).toThrow(/admin\.requireToken/);
  });
});
