import { describe, expect, it } from 'vitest';
import { ConfigError, authEnabled, defaultGatewayConfig, resolveGatewayConfig, type GatewayOptions } from '../../src/config.js';
import { compilePolicies } from '../../src/policy/policy-config.js';

/** `{ a: { b: v } }` from 'a.b', `{ a: v }` from 'a'. */
function option(key: string, value: unknown): GatewayOptions {
  const [group, field] = key.split('.') as [string, string | undefined];
  return (field === undefined ? { [group]: value } : { [group]: { [field]: value } }) as GatewayOptions;
}

function merge(...options: GatewayOptions[]): GatewayOptions {
  const out: Record<string, unknown> = {};
  for (const o of options) {
    for (const [k, v] of Object.entries(o)) {
      const prev = out[k];
      out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' ? { ...prev, ...v } : v;
    }
  }
  return out as GatewayOptions;
}

function configError(options: unknown): ConfigError {
  try {
    resolveGatewayConfig(options as GatewayOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

const MiB = 1024 * 1024;

/** Every integer option and its documented range. */
const RANGES: Array<[key: string, min: number, max: number]> = [
  ['listen.port', 0, 65_535],
  ['admin.port', 0, 65_535],
  ['limits.maxConnections', 1, 1_000_000],
  ['limits.maxConnectionsPerAddress', 1, 1_000_000],
  ['limits.idleTimeoutMs', 0, 86_400_000],
  ['limits.maxPayloadSize', 1024, 16 * MiB - 1],
  ['limits.maxFrameSize', 1024, 16 * MiB - 1],
  ['limits.maxStreamsPerConnection', 1, 1_000_000],
  ['limits.maxStreamsPerInstance', 1, 10_000_000],
  ['limits.outboundHighWater', 1024, 1024 * MiB],
  ['limits.outboundHardLimit', 2048, 4 * 1024 * MiB],
  ['limits.slowConsumerTimeoutMs', 100, 3_600_000],
  ['limits.setupTimeoutMs', 100, 600_000],
  ['limits.maxRoutes', 1, 1_000_000],
  ['flow.window', 1, 65_536],
  ['flow.windowBytes', 1024, 64 * MiB],
  ['keepAlive.minLifetimeMs', 100, 3_600_000],
  ['keepAlive.maxLifetimeMs', 100, 3_600_000],
  ['keepAlive.maxClientLifetimeMs', 100, 3_600_000],
  ['drainTimeoutMs', 0, 600_000],
  ['deadLetter.maxEntries', 1, 10_000_000],
  ['deadLetter.maxAgeMs', 60_000, 3_650 * 86_400_000],
];

/** What else must change for a boundary value to be valid on its own (cross-field rules). */
const COMPANIONS: Record<string, GatewayOptions> = {
  'limits.maxPayloadSize:max': { limits: { maxFrameSize: 16 * MiB - 1 } },
  'limits.maxFrameSize:min': { limits: { maxPayloadSize: 1024 } },
  'limits.outboundHighWater:max': { limits: { outboundHardLimit: 4 * 1024 * MiB } },
  'limits.outboundHardLimit:min': { limits: { outboundHighWater: 1024 } },
  'keepAlive.minLifetimeMs:max': { keepAlive: { maxLifetimeMs: 3_600_000 } },
  'keepAlive.maxLifetimeMs:min': { keepAlive: { minLifetimeMs: 100 } },
};

describe('resolveGatewayConfig', () => {
  it('with no options is the documented defaults', () => {
    expect(resolveGatewayConfig()).toMatchObject({
      listen: { host: '127.0.0.1', port: 7878, tcpPort: null, allowedOrigins: [] },
      admin: { enabled: true, host: '127.0.0.1', port: 7879, tls: true },
      limits: {
        maxConnections: 10_000,
        maxConnectionsPerAddress: 1024,
        serviceReserveRatio: 0.1,
        idleTimeoutMs: 300_000,
        maxPayloadSize: MiB,
        maxFrameSize: 2 * MiB,
        maxStreamsPerConnection: 1024,
        maxStreamsPerInstance: 65_536,
        outboundHighWater: MiB,
        outboundHardLimit: 16 * MiB,
        slowConsumerTimeoutMs: 30_000,
        setupTimeoutMs: 5_000,
      },
      flow: { window: 1024, windowBytes: 512 * 1024 },
      keepAlive: { minLifetimeMs: 1_000, maxLifetimeMs: 600_000, maxClientLifetimeMs: 60_000 },
      drainTimeoutMs: 10_000,
      readiness: { routes: [] },
      logging: { level: 'info' },
      tls: { certFile: null, keyFile: null },
    });
    expect(resolveGatewayConfig({})).toEqual(defaultGatewayConfig);
  });

  it('returns a copy: changing the result never changes the defaults', () => {
    const c = resolveGatewayConfig();
    c.limits.maxConnections = 1;
    c.listen.allowedOrigins.push('http://x');
    expect(defaultGatewayConfig.limits.maxConnections).toBe(10_000);
    expect(defaultGatewayConfig.listen.allowedOrigins).toEqual([]);
  });

  it('merges each group over its defaults; undefined means default', () => {
    const c = resolveGatewayConfig({ listen: { port: 0, host: undefined }, limits: { maxPayloadSize: 2048 }, drainTimeoutMs: undefined });
    expect(c.listen).toEqual({ ...defaultGatewayConfig.listen, port: 0 });
    expect(c.limits).toEqual({ ...defaultGatewayConfig.limits, maxPayloadSize: 2048 });
    expect(c.drainTimeoutMs).toBe(10_000);
  });

  it('an unknown top-level key is named, with the known ones', () => {
    const e = configError({ lsiten: { port: 1 } });
    expect(e.name).toBe('ConfigError');
    expect(e.key).toBe('lsiten');
    expect(e.message).toMatch(/^config 'lsiten': unknown key; known keys are listen, admin, limits, flow, keepAlive, drainTimeoutMs, readiness, logging\b/);
  });

  it('an unknown key inside a group is named with its group, with the known ones', () => {
    const e = configError({ limits: { maxStreams: 5 } });
    expect(e.key).toBe('limits.maxStreams');
    expect(e.message).toBe(
      "config 'limits.maxStreams': unknown key; known keys are limits.maxConnections, limits.maxConnectionsPerAddress, limits.serviceReserveRatio, limits.idleTimeoutMs, limits.maxPayloadSize, limits.maxFrameSize, " +
        'limits.maxStreamsPerConnection, limits.maxStreamsPerInstance, limits.outboundHighWater, limits.outboundHardLimit, ' +
        'limits.slowConsumerTimeoutMs, limits.setupTimeoutMs, limits.maxRoutes, limits.memoryBudgetBytes, limits.fragmentTimeoutMs',
    );
    expect(configError({ flow: { windw: 5 } }).message).toBe("config 'flow.windw': unknown key; known keys are flow.window, flow.windowBytes, flow.prefetch, flow.prefetchBudgetBytes");
  });

  it('a group must be an object', () => {
    expect(configError({ limits: 5 }).message).toBe("config 'limits': must be an object");
    expect(configError({ listen: ['x'] }).message).toBe("config 'listen': must be an object");
    expect(configError({ keepAlive: null }).message).toBe("config 'keepAlive': must be an object");
  });

  it.each(RANGES)('%s must be an integer from %d to %d, and the error says so', (key, min, max) => {
    for (const bad of [min - 1, max + 1, min + 0.5, String(min), null, true]) {
      const e = configError(option(key, bad));
      expect(e.key).toBe(key);
      expect(e.message).toBe(`config '${key}': must be an integer from ${min} to ${max}, got ${JSON.stringify(bad)}`);
    }
  });

  it.each(RANGES)('%s accepts its bounds %d and %d', (key, min, max) => {
    for (const [bound, value] of [
      ['min', min],
      ['max', max],
    ] as const) {
      const options = merge(option(key, value), COMPANIONS[`${key}:${bound}`] ?? {});
      const c = resolveGatewayConfig(options) as unknown as Record<string, Record<string, unknown>>;
      const [group, field] = key.split('.') as [string, string | undefined];
      expect(field === undefined ? c[group] : c[group]![field]).toBe(value);
    }
  });

  it('listen.tcpPort is null (off) or a port', () => {
    for (const ok of [null, 0, 7880, 65_535]) expect(resolveGatewayConfig({ listen: { tcpPort: ok } }).listen.tcpPort).toBe(ok);
    for (const bad of [-1, 65_536, 1.5, '7880']) {
      expect(configError({ listen: { tcpPort: bad } }).message).toBe(`config 'listen.tcpPort': must be null or an integer from 0 to 65535, got ${JSON.stringify(bad)}`);
    }
  });

  it('hosts must be non-empty strings', () => {
    expect(configError({ listen: { host: '' } }).message).toBe(`config 'listen.host': must be a non-empty host name or address, got ""`);
    expect(configError({ admin: { host: 1 } }).message).toBe(`config 'admin.host': must be a non-empty host name or address, got 1`);
  });

  it('admin.enabled must be a boolean', () => {
    expect(configError({ admin: { enabled: 'no' } }).message).toBe("config 'admin.enabled': must be true or false");
    expect(resolveGatewayConfig({ admin: { enabled: false } }).admin.enabled).toBe(false);
  });

  it('listen.allowedOrigins and readiness.routes must be arrays of strings', () => {
    expect(configError({ listen: { allowedOrigins: 'http://a' } }).message).toBe(
      `config 'listen.allowedOrigins': must be an array of origins such as "https://app.example:8443" (scheme://host[:port], no path), or "*", got "http://a"`,
    );
    expect(configError({ listen: { allowedOrigins: [1] } }).key).toBe('listen.allowedOrigins');
    for (const bad of ['http://a/path', 'ftp://a', 'a.example', 'http://a?x=1', 'http://u@a']) expect(configError({ listen: { allowedOrigins: [bad] } }).key).toBe('listen.allowedOrigins');
    expect(resolveGatewayConfig({ listen: { allowedOrigins: ['*', 'https://app.example:8443', 'http://[::1]:7879/'] } }).listen.allowedOrigins).toHaveLength(3);
    expect(configError({ readiness: { routes: [''] } }).message).toBe("config 'readiness.routes': must be an array of route names");
    expect(configError({ readiness: { routes: 'a' } }).key).toBe('readiness.routes');
    expect(resolveGatewayConfig({ readiness: { routes: ['a.b'] }, listen: { allowedOrigins: ['http://x'] } })).toMatchObject({ readiness: { routes: ['a.b'] }, listen: { allowedOrigins: ['http://x'] } });
  });

  it('logging.level must be a pino level', () => {
    expect(configError({ logging: { level: 'verbose' } }).message).toBe("config 'logging.level': must be one of fatal, error, warn, info, debug, trace, silent");
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(resolveGatewayConfig({ logging: { level } }).logging.level).toBe(level);
  });

  it('limits.maxPayloadSize must not exceed limits.maxFrameSize', () => {
    expect(configError({ limits: { maxPayloadSize: 4096, maxFrameSize: 4095 } }).message).toBe("config 'limits.maxPayloadSize': must not exceed limits.maxFrameSize (4095)");
    expect(resolveGatewayConfig({ limits: { maxPayloadSize: 4096, maxFrameSize: 4096 } }).limits.maxFrameSize).toBe(4096);
  });

  it('limits.outboundHighWater must be below limits.outboundHardLimit', () => {
    expect(configError({ limits: { outboundHighWater: 4096, outboundHardLimit: 4096 } }).message).toBe("config 'limits.outboundHighWater': must be below limits.outboundHardLimit (4096)");
    expect(configError({ limits: { outboundHardLimit: 2048 } }).key).toBe('limits.outboundHighWater');
    expect(resolveGatewayConfig({ limits: { outboundHighWater: 1024, outboundHardLimit: 2048 } }).limits.outboundHardLimit).toBe(2048);
    expect(resolveGatewayConfig({ limits: { outboundHighWater: 4095, outboundHardLimit: 4096 } }).limits.outboundHighWater).toBe(4095);
  });

  it('tls.certFile and tls.keyFile are paths, set together', () => {
    expect(configError({ tls: { certFile: 'cert.pem' } }).message).toBe("config 'tls.keyFile': tls.certFile and tls.keyFile go together: set both or neither");
    expect(configError({ tls: { keyFile: 'key.pem' } }).key).toBe('tls.certFile');
    expect(configError({ tls: { certFile: '', keyFile: 'k' } }).message).toBe(`config 'tls.certFile': must be null or a file path, got ""`);
    expect(configError({ admin: { tls: 'yes' } }).message).toBe("config 'admin.tls': must be true or false");
    expect(resolveGatewayConfig({ tls: { certFile: 'c.pem', keyFile: 'k.pem' } }).tls).toEqual({ certFile: 'c.pem', keyFile: 'k.pem' });
  });

  it('limits.serviceReserveRatio is a fraction from 0 to 0.9', () => {
    for (const bad of [-0.1, 0.95, 'x', Number.NaN]) expect(configError({ limits: { serviceReserveRatio: bad } }).key).toBe('limits.serviceReserveRatio');
    expect(configError({ limits: { serviceReserveRatio: 1 } }).message).toBe("config 'limits.serviceReserveRatio': must be a number from 0 to 0.9, got 1");
    for (const ok of [0, 0.25, 0.9]) expect(resolveGatewayConfig({ limits: { serviceReserveRatio: ok } }).limits.serviceReserveRatio).toBe(ok);
  });

  it('keepAlive.minLifetimeMs must not exceed keepAlive.maxLifetimeMs', () => {
    expect(configError({ keepAlive: { minLifetimeMs: 5_000, maxLifetimeMs: 4_999 } }).message).toBe("config 'keepAlive.minLifetimeMs': must not exceed keepAlive.maxLifetimeMs (4999)");
    expect(resolveGatewayConfig({ keepAlive: { minLifetimeMs: 5_000, maxLifetimeMs: 5_000 } }).keepAlive.minLifetimeMs).toBe(5_000);
  });
});

describe('keys inherited from Object.prototype', () => {
  it('are unknown keys, not settings', () => {
    expect(() => resolveGatewayConfig({ toString: 1 } as never)).toThrow("config 'toString': unknown key");
    expect(() => resolveGatewayConfig({ limits: { constructor: 1 } } as never)).toThrow("config 'limits.constructor': unknown key");
    expect(() => compilePolicies({ routes: { 'a.b': { hasOwnProperty: 1 } } })).toThrow("config 'policies.routes.a.b.hasOwnProperty': unknown key");
  });
});

describe('auth', () => {
  it('is off by default, with the anonymous grant enabled and empty', () => {
    const c = resolveGatewayConfig();
    expect(c.auth).toEqual({
      secretFile: null,
      jwksFile: null,
      issuer: null,
      audience: null,
      clockSkewMs: 30_000,
      anonymous: { enabled: true, call: [] },
      allowAnonymous: false,
      probeTimeoutMs: 2_000,
    });
    expect(authEnabled(c.auth)).toBe(false);
  });

  it('merges auth.anonymous key by key and names unknown keys in it', () => {
    expect(resolveGatewayConfig({ auth: { anonymous: { call: ['bench.*'] } } }).auth.anonymous).toEqual({ enabled: true, call: ['bench.*'] });
    expect(configError({ auth: { anonymous: { cal: [] } } }).message).toMatch(/^config 'auth.anonymous.cal': unknown key; known keys are auth.anonymous.enabled, auth.anonymous.call/);
    expect(configError({ auth: { anonymous: [] } }).key).toBe('auth.anonymous');
  });

  it('validates every auth key, naming it', () => {
    expect(configError({ auth: { anonymous: { call: ['ok.*', 'not a pattern'] } } }).key).toBe('auth.anonymous.call[1]');
    expect(configError({ auth: { anonymous: { enabled: 'yes' } } }).key).toBe('auth.anonymous.enabled');
    expect(configError({ auth: { secretFile: '' } }).key).toBe('auth.secretFile');
    expect(configError({ auth: { jwksFile: 3 } }).key).toBe('auth.jwksFile');
    expect(configError({ auth: { issuer: [] } }).key).toBe('auth.issuer');
    expect(configError({ auth: { audience: [1] } }).key).toBe('auth.audience');
    expect(configError({ auth: { clockSkewMs: -1 } }).key).toBe('auth.clockSkewMs');
    expect(configError({ auth: { probeTimeoutMs: 0 } }).key).toBe('auth.probeTimeoutMs');
    expect(configError({ auth: { allowAnonymous: 1 } }).key).toBe('auth.allowAnonymous');
    expect(resolveGatewayConfig({ auth: { issuer: ['a', 'b'], audience: 'gw' } }).auth).toMatchObject({ issuer: ['a', 'b'], audience: 'gw' });
  });

  it('with auth off, a non-loopback listen.host is refused unless allowAnonymous is set', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'gateway.example']) {
      const err = configError({ listen: { host } });
      expect(err.key).toBe('listen.host');
      expect(err.message).toContain('auth is off');
      expect(resolveGatewayConfig({ listen: { host }, auth: { allowAnonymous: true } }).listen.host).toBe(host);
      expect(resolveGatewayConfig({ listen: { host }, auth: { secretFile: '/etc/sluice/secret' } }).listen.host).toBe(host);
    }
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(resolveGatewayConfig({ listen: { host } }).listen.host).toBe(host);
  });
});
