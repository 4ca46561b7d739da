/**
 * The HTTP bridge remembers verified tokens, over real HTTP: a repeated
 * token is answered without a second verification, a token signed with a
 * rotated-out key is refused right after `reload()` although it was cached,
 * an expired token is refused although it was cached, and the number of
 * tokens remembered stays within `http.tokenCacheEntries`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchRoutes } from '../../src/loadtest/bench-service.js';
import { metricsText, metricValue, useHarness } from '../helpers/harness.js';
import { mint, tokenService } from '../helpers/auth.js';

const h = useHarness();
const OLD = 'the-old-secret-the-old-secret-the-old-secret';
const NEW = 'the-new-secret-the-new-secret-the-new-secret';

async function secretAt(secret: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-token-cache-'));
  h.onCleanup(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'secret');
  await writeFile(file, secret);
  return file;
}

async function gatewayWithBench(file: string, http: Record<string, unknown> = {}, clockSkewMs = 30_000) {
  const gw = await h.gateway({ auth: { secretFile: file, clockSkewMs }, http });
  await tokenService(h, gw.url, await mint('bench', { service: 'bench', register: ['bench.*'] }, { secret: OLD }), 'bench', 'bench-1', benchRoutes());
  const post = (token: string, body: unknown) =>
    fetch(`${gw.url.replace(/^ws/, 'http')}/v1/routes/bench.echo`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { gw, post };
}

const lookups = async (gw: Parameters<typeof metricsText>[0], result: 'hit' | 'miss') => metricValue(await metricsText(gw), 'sluice_http_token_cache_lookups_total', { result }) ?? 0;

describe('HTTP token verification cache', () => {
  it('verifies a token once, and refuses it after reload() rotated its key', async () => {
    const file = await secretAt(OLD);
    const { gw, post } = await gatewayWithBench(file);
    const token = await mint('shop', { call: ['bench.*'] }, { secret: OLD });
    for (let i = 0; i < 3; i++) expect((await post(token, i)).status).toBe(200);
    expect(await lookups(gw, 'miss')).toBe(1);
    expect(await lookups(gw, 'hit')).toBe(2);

    await writeFile(file, NEW);
    await gw.reload();
    const refused = await post(token, 'after');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await post(await mint('shop', { call: ['bench.*'] }, { secret: NEW }), 'new')).status).toBe(200);
  });

  it('refuses an expired token even though it was cached', async () => {
    const { gw, post } = await gatewayWithBench(await secretAt(OLD), {}, 0);
    // exp is in whole seconds from the minting second, so a 1 s token may have only milliseconds
    // left when it is first presented; 2 s leaves at least one second for the two cached posts.
    const minted = Date.now();
    const token = await mint('shop', { call: ['bench.*'] }, { secret: OLD, ttlSec: 2, now: minted });
    const exp = (Math.floor(minted / 1000) + 2) * 1000;
    expect((await post(token, 1)).status).toBe(200);
    expect((await post(token, 2)).status).toBe(200);
    expect(await lookups(gw, 'hit')).toBe(1);
    // The token's lifetime is the scenario: wait it out, then present it again.
    while (Date.now() <= exp) await new Promise((r) => setTimeout(r, exp + 5 - Date.now()));
    const refused = await post(token, 3);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/expired/);
  });

  it('remembers at most http.tokenCacheEntries tokens', async () => {
    const { gw, post } = await gatewayWithBench(await secretAt(OLD), { tokenCacheEntries: 2 });
    const tokens = await Promise.all(['a', 'b', 'c', 'd'].map((s) => mint(s, { call: ['bench.*'] }, { secret: OLD })));
    for (const t of tokens) expect((await post(t, 1)).status).toBe(200);
    expect(metricValue(await metricsText(gw), 'sluice_http_token_cache_entries')).toBe(2);
    // The two most recent are remembered, the first two were dropped and are verified again.
    for (const t of [tokens[3]!, tokens[2]!, tokens[0]!]) expect((await post(t, 2)).status).toBe(200);
    expect(await lookups(gw, 'hit')).toBe(2);
    expect(await lookups(gw, 'miss')).toBe(5);
  });
});
