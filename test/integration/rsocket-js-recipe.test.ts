/**
 * The README's rsocket-js recipe (examples/rsocket-js/recipe.ts) runs as
 * written: an rsocket-js responder registers a service and an rsocket-js
 * RSocketConnector calls it through the gateway, in open mode and with
 * bearer tokens in SETUP metadata (where the token decides: a client whose
 * grant lacks the route gets PERMISSION_DENIED, a responder without a token
 * cannot register). The README shows the recipe file verbatim.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/harness.js';
import { mint, secretFile } from '../helpers/auth.js';
import { call, connectToGateway, serveGreeter } from '../../examples/rsocket-js/recipe.js';

const h = useHarness();

/** Resolves when the gateway has `route`, polling its registry (bounded by the test timeout). */
function registered(gw: { registry: { has(route: string): boolean } }, route: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (gw.registry.has(route) ? resolve() : setImmediate(check));
    check();
  });
}

describe('rsocket-js recipe', () => {
  it('open mode: an rsocket-js responder serves an rsocket-js client through the gateway', async () => {
    const gw = await h.gateway();
    const service = await serveGreeter(gw.url);
    h.onCleanup(() => service.close());
    await registered(gw, 'greeter.hello');
    const client = await connectToGateway(gw.url);
    h.onCleanup(() => client.close());
    expect(await call(client, 'greeter.hello', { name: 'rsocket-js' })).toEqual({ greeting: 'hello, rsocket-js' });
  });

  it('auth on: tokens in SETUP metadata register the service and grant the call; a grant without the route is refused', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h), anonymous: { enabled: false } } });
    const service = await serveGreeter(gw.url, await mint('greeter', { service: 'greeter', register: ['greeter.*'] }));
    h.onCleanup(() => service.close());
    await registered(gw, 'greeter.hello');

    const alice = await connectToGateway(gw.url, { token: await mint('alice', { call: ['greeter.*'] }) });
    h.onCleanup(() => alice.close());
    expect(await call(alice, 'greeter.hello', { name: 'alice' })).toEqual({ greeting: 'hello, alice' });

    const bob = await connectToGateway(gw.url, { token: await mint('bob', { call: ['other.*'] }) });
    h.onCleanup(() => bob.close());
    const denied = (await call(bob, 'greeter.hello', { name: 'bob' }).catch((e: unknown) => e)) as Error;
    expect(denied.message).toBe("PERMISSION_DENIED: route 'greeter.hello' is not granted to sub:bob");
    expect((denied as Error & { code: number }).code).toBe(0x202);
  });

  it('auth on: a responder without a token is refused at SETUP (REJECTED_SETUP 0x003) and registers nothing', async () => {
    const gw = await h.gateway({ auth: { secretFile: await secretFile(h), anonymous: { enabled: false } } });
    // RSocket has no SETUP acknowledgement: rsocket-js resolves connect() and learns of the refusal
    // from the ERROR frame that closes the connection.
    const rs = await serveGreeter(gw.url);
    const closed = await new Promise<(Error & { code?: number }) | undefined>((resolve) => rs.onClose(resolve));
    expect(closed?.code).toBe(0x003);
    expect(closed?.message).toMatch(/^UNAUTHENTICATED: /);
    expect(gw.registry.has('greeter.hello')).toBe(false);
  });

  it('the README shows the recipe as the file CI runs', async () => {
    const recipe = await readFile(new URL('../../examples/rsocket-js/recipe.ts', import.meta.url), 'utf8');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const body = recipe.slice(recipe.indexOf('// --- recipe ---\n') + '// --- recipe ---\n'.length);
    expect(readme).toContain(body.trim());
  });
});
