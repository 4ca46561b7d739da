/**
 * Tokens on the client side, on in-memory connections: the bearer entry in
 * SETUP, `exp` decoding, refresh scheduling by METADATA_PUSH on a manual
 * clock, provider failures, and how connect() and the Reconnector treat a
 * refused token.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { establish } from '../../src/client/connector.js';
import { Reconnector } from '../../src/client/reconnect.js';
import { base64UrlDecode, resolveToken, tokenExpiry } from '../../src/client/token.js';
import { refreshDelay, startTokenRefresh, type RefreshTarget } from '../../src/client/token-refresh.js';
import { mintToken } from '../../src/auth/mint.js';
import { SluiceError } from '../../src/errors.js';
import { MimeTypes, decodeComposite } from '../../src/protocol/metadata.js';
import type { SetupFrame } from '../../src/protocol/frames.js';
import { Connection, refusingResponder } from '../../src/rsocket/connection.js';
import { ServerConnection } from '../../src/rsocket/server-connection.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { memoryPair, settle } from '../helpers/memory-transport.js';

const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!');
const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);

/** A real HS256 token expiring `ttlS` seconds after `now` (epoch ms). */
const token = (ttlS: number, now = T0, sub = 'alice') => mintToken({ secret, subject: sub, grant: { call: ['bench.*'] }, ttlMs: ttlS * 1000, now });

/** The bearer token in a composite metadata, or undefined. */
function bearerIn(metadata: Uint8Array | null): string | undefined {
  if (!metadata) return undefined;
  const auth = decodeComposite(metadata).find((e) => e.mimeType === MimeTypes.AUTHENTICATION);
  if (!auth) return undefined;
  expect(auth.content[0]).toBe(0x81); // well-known auth type id 0x01 (bearer), high bit set
  return new TextDecoder().decode(auth.content.subarray(1));
}

/** A server on an in-memory transport that records SETUPs and METADATA_PUSHes, refusing what `refuse` says. */
function memoryGateway(refuse?: (setup: SetupFrame) => SluiceError | undefined) {
  const setups: SetupFrame[] = [];
  const pushes: Uint8Array[] = [];
  const servers: Connection[] = [];
  const factory = () => {
    const [ct, st] = memoryPair();
    servers.push(
      ServerConnection.accept(st, {
        accept: (setup) => {
          setups.push(setup);
          const refusal = refuse?.(setup);
          if (refusal) throw refusal;
          return { ...refusingResponder, metadataPush: (m) => void pushes.push(m) };
        },
      }),
    );
    return Promise.resolve(ct);
  };
  return { factory, setups, pushes, servers };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('bearer token in SETUP', () => {
  it('rides as the authentication entry, before the registration entry, and the gateway sees exactly the token', async () => {
    const gw = memoryGateway();
    const jwt = await token(3600);
    const conn = await establish(gw.factory, { url: 'memory://', token: jwt, setupMetadata: [{ mimeType: MimeTypes.REGISTRATION, content: new Uint8Array([0x7b, 0x7d]) }] });
    const entries = decodeComposite(gw.setups[0]!.metadata!);
    expect(entries.map((e) => e.mimeType)).toEqual([MimeTypes.AUTHENTICATION, MimeTypes.REGISTRATION]);
    expect(bearerIn(gw.setups[0]!.metadata)).toBe(jwt);
    conn.close();
  });

  it('a provider is asked on every connection', async () => {
    const gw = memoryGateway();
    let n = 0;
    const provider = () => `token-${++n}`;
    (await establish(gw.factory, { url: 'memory://', token: provider })).close();
    (await establish(gw.factory, { url: 'memory://', token: async () => provider() })).close();
    expect(gw.setups.map((s) => bearerIn(s.metadata))).toEqual(['token-1', 'token-2']);
  });

  it('no token: no authentication entry at all', async () => {
    const gw = memoryGateway();
    (await establish(gw.factory, { url: 'memory://' })).close();
    expect(gw.setups[0]!.metadata).toBeNull();
  });

  it('a refused token rejects connect with UNAUTHENTICATED and its reason, never a connection', async () => {
    const gw = memoryGateway(() => new SluiceError('UNAUTHENTICATED', 'token expired'));
    const err = await establish(gw.factory, { url: 'memory://', token: 'x.y.z' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', message: 'token expired' });
    await settle();
    expect(gw.servers[0]!.isOpen).toBe(false);
  });

  it.each([
    ['throws', () => { throw new Error('vault sealed'); }, /token provider failed: vault sealed/],
    ['rejects', () => Promise.reject(new Error('timeout')), /token provider failed: timeout/],
    ['returns an empty string', () => '', /non-empty string, got an empty string/],
    ['returns a non-string', () => 42 as unknown as string, /non-empty string, got number/],
    ['returns a token with spaces', () => 'Bearer abc', /printable ASCII without spaces/],
  ])('a provider that %s fails connect with UNAUTHENTICATED before any socket opens', async (_what, provider, message) => {
    const gw = memoryGateway();
    const err = await establish(gw.factory, { url: 'memory://', token: provider }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(message) });
    expect(gw.servers).toHaveLength(0);
  });

  it('an oversized token is refused locally', async () => {
    await expect(resolveToken('a'.repeat(8192 + 1))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('token expiry', () => {
  it('reads exp (seconds) of a real JWT as epoch ms', async () => {
    expect(tokenExpiry(await token(90))).toBe(T0 + 90_000);
  });

  it.each([
    ['not a JWT', 'opaque-token'],
    ['a payload that is not base64url', 'a.b*c.d'],
    ['a payload that is not JSON', `a.${btoa('nope').replace(/=+$/, '')}.c`],
    ['no exp', `a.${btoa('{"sub":"x"}').replace(/=+$/, '')}.c`],
    ['exp not a number', `a.${btoa('{"exp":"soon"}').replace(/=+$/, '')}.c`],
  ])('undefined for %s', (_what, t) => {
    expect(tokenExpiry(t)).toBeUndefined();
  });

  it('base64url decodes like the platform, for every length', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 89 + n * 7) & 0xff);
      const text = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      expect(base64UrlDecode(text)).toEqual(bytes);
    }
    expect(() => base64UrlDecode('ab+c')).toThrow(/bad character/);
  });
});

describe('refresh scheduling', () => {
  it('refreshes at 80% of the remaining lifetime, at least 5 s before expiry, never sooner than 1 s', () => {
    expect(refreshDelay(T0 + 3_600_000, T0)).toBe(2_880_000);
    expect(refreshDelay(T0 + 10_000, T0)).toBe(5_000);
    expect(refreshDelay(T0 + 4_000, T0)).toBe(2_000);
    expect(refreshDelay(T0 + 500, T0)).toBe(1_000);
    expect(refreshDelay(T0 - 60_000, T0)).toBe(1_000);
  });

  /** A live connection as the refresher sees it. */
  function fakeTarget() {
    const listeners = new Set<() => void>();
    const target: RefreshTarget & { pushed: string[]; close(): void } = {
      isOpen: true,
      pushed: [],
      metadataPush(m) {
        const entries = decodeComposite(m);
        expect(entries).toHaveLength(1);
        this.pushed.push(bearerIn(m)!);
      },
      onClose(l) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      close() {
        (this as { isOpen: boolean }).isOpen = false;
        for (const l of listeners) l();
      },
    };
    return { target, listeners };
  }

  it('sends each new token by METADATA_PUSH before the current one expires, and again for the next', async () => {
    const clock = new ManualClock(T0);
    const { target } = fakeTarget();
    const first = await token(100);
    const provided: string[] = [];
    const provider = async () => {
      const t = await token(100, clock.now(), `alice-${provided.length}`);
      provided.push(t);
      return t;
    };
    const r = startTokenRefresh(target, provider, first, {}, clock);
    await clock.advance(79_999);
    expect(target.pushed).toEqual([]);
    await clock.advance(1);
    await vi.waitFor(() => expect(target.pushed).toHaveLength(1));
    expect(target.pushed[0]).toBe(provided[0]);
    expect(tokenExpiry(target.pushed[0]!)).toBe(T0 + 180_000);
    // The next refresh is scheduled from the new token's expiry: 80 s after this one.
    await clock.advance(79_000);
    expect(target.pushed).toHaveLength(1);
    await clock.advance(1_000);
    await vi.waitFor(() => expect(target.pushed).toHaveLength(2));
    expect(r.refreshes).toBe(2);
    r.stop();
  });

  it('stops when the connection closes: no timer left, no push after', async () => {
    const clock = new ManualClock(T0);
    const { target, listeners } = fakeTarget();
    const provider = vi.fn(() => token(100, clock.now()));
    startTokenRefresh(target, provider, await token(100), {}, clock);
    expect(clock.pending).toBe(1);
    target.close();
    await clock.advance(0);
    expect(clock.pending).toBe(0);
    expect(listeners.size).toBe(0);
    await clock.advance(200_000);
    expect(provider).not.toHaveBeenCalled();
    expect(target.pushed).toEqual([]);
  });

  it('a failing provider is asked again at half the remaining time, and no more once the token expired', async () => {
    const clock = new ManualClock(T0);
    const { target } = fakeTarget();
    const calls: number[] = [];
    const provider = () => {
      calls.push(clock.now() - T0);
      throw new Error('identity provider down');
    };
    startTokenRefresh(target, provider, await token(100), {}, clock);
    await clock.advance(200_000);
    // 80 s, then half of what is left each time (10 s, 5 s, 2.5 s, 1.25 s, then the 1 s floor), then it stops: bounded by the expiry.
    expect(calls).toEqual([80_000, 90_000, 95_000, 97_500, 98_750, 99_750]);
    expect(target.pushed).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('recovers when the provider works again before expiry', async () => {
    const clock = new ManualClock(T0);
    const { target } = fakeTarget();
    let failures = 2;
    const provider = () => (failures-- > 0 ? Promise.reject(new Error('flaky')) : token(100, clock.now()));
    startTokenRefresh(target, provider, await token(100), {}, clock);
    await clock.advance(96_000);
    await vi.waitFor(() => expect(target.pushed).toHaveLength(1));
    expect(tokenExpiry(target.pushed[0]!)).toBe(T0 + 95_000 + 100_000);
  });

  it('a token that expires no later than the current one is not sent', async () => {
    const clock = new ManualClock(T0);
    const { target } = fakeTarget();
    const same = await token(100);
    const provider = vi.fn(() => same);
    startTokenRefresh(target, provider, same, {}, clock);
    await clock.advance(200_000);
    expect(provider.mock.calls.length).toBeGreaterThan(1);
    expect(target.pushed).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('a token without exp is never refreshed', async () => {
    const clock = new ManualClock(T0);
    const { target, listeners } = fakeTarget();
    const provider = vi.fn(() => 'opaque');
    startTokenRefresh(target, provider, 'opaque', {}, clock);
    await clock.advance(10_000_000);
    expect(provider).not.toHaveBeenCalled();
    expect(clock.pending).toBe(0);
    expect(listeners.size).toBe(0);
  });

  it('through establish: the gateway receives the refreshed token by METADATA_PUSH on the live connection', async () => {
    vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const gw = memoryGateway();
    let n = 0;
    const provider = () => token(20, Date.now(), `svc-${n++}`);
    const conn = await establish(gw.factory, { url: 'memory://', token: provider });
    expect(bearerIn(gw.setups[0]!.metadata)).toMatch(/^ey/);
    await vi.advanceTimersByTimeAsync(14_999);
    expect(gw.pushes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    // Signing the new token is real async work (WebCrypto), not a timer.
    await vi.waitFor(() => expect(gw.pushes).toHaveLength(1));
    const pushed = bearerIn(gw.pushes[0]!)!;
    expect(tokenExpiry(pushed)).toBe(T0 + 15_000 + 20_000);
    conn.close();
    await vi.advanceTimersByTimeAsync(100_000);
    expect(gw.pushes).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([
    [{ at: 1 }, /tokenRefresh\.at/],
    [{ at: 0 }, /tokenRefresh\.at/],
    [{ minLeadMs: -1 }, /tokenRefresh\.minLeadMs/],
    [{ minDelayMs: 0 }, /tokenRefresh\.minDelayMs/],
  ])('refresh option %o is refused before connecting', async (tokenRefresh, message) => {
    const gw = memoryGateway();
    await expect(establish(gw.factory, { url: 'memory://', token: () => 't', tokenRefresh })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    expect(gw.servers).toHaveLength(0);
  });

  it('a fixed token starts no refresh timer', async () => {
    vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const gw = memoryGateway();
    const plain = await establish(gw.factory, { url: 'memory://' });
    await settle();
    const withoutToken = vi.getTimerCount();
    plain.close();
    gw.servers[0]!.close();
    await settle();
    const conn = await establish(gw.factory, { url: 'memory://', token: await token(20) });
    await settle();
    expect(vi.getTimerCount()).toBe(withoutToken);
    conn.close();
  });
});

describe('Reconnector and UNAUTHENTICATED', () => {
  const refused = () => Promise.reject(new SluiceError('UNAUTHENTICATED', 'bad signature'));

  it('gives up at once for a fixed token: the same token would be refused again', async () => {
    const open = vi.fn(refused);
    const failed = vi.fn();
    const r = new Reconnector(open, { initialDelayMs: 1, maxDelayMs: 1 }, { failed });
    await expect(r.start()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(open).toHaveBeenCalledTimes(1);
    expect(failed).toHaveBeenCalledWith(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('retries with backoff when a provider may hand out a new token', async () => {
    vi.useFakeTimers();
    let attempts = 0;
    const open = () => (++attempts < 3 ? refused() : Promise.resolve({ isOpen: true, onClose: () => () => {}, close() {} } as unknown as Connection));
    const r = new Reconnector(open, { initialDelayMs: 100, maxDelayMs: 100 }, {}, undefined, { renewable: true });
    const started = r.start();
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(started).resolves.toBeDefined();
    expect(attempts).toBe(3);
    r.close();
  });
});
