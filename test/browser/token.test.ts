/**
 * The browser client with a token, in Chromium against a verifying gateway:
 * a fixed token connects and calls, a refused token rejects connect() with
 * UNAUTHENTICATED (the code survives into the page), and a token provider
 * keeps the connection past its first token's expiry by refreshing it.
 * The page is the admin server's own origin (the one the gateway trusts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/mint.js';
import type { GatewayOptions } from '../../src/config.js';
import { describeBrowser, useBrowser } from '../helpers/browser.js';
import { useHarness } from '../helpers/harness.js';

const h = useHarness();
const b = useBrowser();
const secret = new TextEncoder().encode('browser-test-secret-0123456789abcdefghij');
let dir: string;
let secretFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-browser-token-'));
  secretFile = join(dir, 'secret');
  await writeFile(secretFile, secret, { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mint = (ttlMs: number, s = secret) => mintToken({ secret: s, subject: 'browser-user', grant: { call: ['bench.*'] }, ttlMs });

async function setup() {
  const gw = await h.gateway({ auth: { secretFile, clockSkewMs: 0, anonymous: { enabled: true, call: [] } } } as unknown as GatewayOptions);
  await h.service({ url: gw.url, service: 'bench', token: await mintToken({ secret, subject: 'bench', grant: { service: 'bench', register: ['bench.*'] }, ttlMs: 3_600_000 }) });
  const page = await b.page();
  // The admin server has no favicon; its 404 would read as a page error.
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto(`${gw.adminUrl}/healthz`);
  // A string, so the test runner does not rewrite the page's dynamic import.
  await page.evaluate(`import(${JSON.stringify(`${gw.adminUrl}/assets/sluice.js`)}).then((m) => { window.sluice = m; })`);
  return { gw, page };
}

type PageClient = { connect(o: object): Promise<{ requestResponse(r: string, d: unknown): Promise<unknown>; connected: boolean; close(): void }> };

describeBrowser('browser client tokens', () => {
  it('a fixed token connects and calls; a refused one rejects connect() with UNAUTHENTICATED', { timeout: 60_000 }, async () => {
    const { gw, page } = await setup();
    const good = await mint(3_600_000);
    const bad = await mint(3_600_000, new TextEncoder().encode('not-the-gateway-secret-0123456789abcdef'));
    const result = await page.evaluate(
      async ({ url, good, bad }) => {
        const { connect } = (window as unknown as { sluice: PageClient }).sluice;
        const client = await connect({ url, token: good });
        const echoed = await client.requestResponse('bench.echo', { from: 'browser' });
        client.close();
        const refused = await connect({ url, token: bad }).then(
          () => null,
          (e: { name: string; code: string }) => ({ name: e.name, code: e.code }),
        );
        return { echoed, refused };
      },
      { url: gw.url, good, bad },
    );
    expect(result).toEqual({ echoed: { from: 'browser' }, refused: { name: 'SluiceError', code: 'UNAUTHENTICATED' } });
    expect(b.errors).toEqual([]);
  });

  it('a token provider refreshes the token on the live connection, past the first one expiry', { timeout: 60_000 }, async () => {
    const { gw, page } = await setup();
    let issued = 0;
    await page.exposeFunction('mintToken', async () => {
      issued++;
      return mint(3_000);
    });
    const result = await page.evaluate(async (url) => {
      const { connect } = (window as unknown as { sluice: PageClient }).sluice;
      const provider = () => (window as unknown as { mintToken(): Promise<string> }).mintToken();
      const client = await connect({ url, token: provider });
      const first = Date.now();
      // Past the first token's exp (3 s, whole seconds) by a margin, polling the clock.
      while (Date.now() - first < 4_500) await new Promise((r) => setTimeout(r, 100));
      const echoed = await client.requestResponse('bench.echo', 'still here');
      const connected = client.connected;
      client.close();
      return { echoed, connected };
    }, gw.url);
    expect(result).toEqual({ echoed: 'still here', connected: true });
    expect(issued).toBeGreaterThanOrEqual(2);
    expect(b.errors).toEqual([]);
  });
});
