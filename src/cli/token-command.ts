/** `sluice token`: mints a development token (HS256) for a gateway run with `--auth-secret-file`. */
import { DEFAULT_TTL_MS, mintToken, parseDuration } from '../auth/mint.js';
import { readSecretFile } from '../auth/secret-file.js';
import { parseFlags } from './args.js';

const usage = `usage: sluice token --secret-file FILE --sub NAME [options]

Prints a JWT (HS256, signed with the gateway's --auth-secret-file) whose
'sluice' claim grants what the flags say; see docs/security.md.

  --secret-file FILE   the gateway's HS256 secret (at least 32 bytes)
  --sub NAME           who holds the token (its 'sub'), e.g. order, alice
  --call PATTERN       routes it may call: a route, a prefix 'payment.*', or '*' (repeatable)
  --service NAME       the service name it may register as
  --register PATTERN   routes it may register (repeatable; needs --service)
  --admin              the gateway's own operations (dlq.list, dlq.replay, ...)
  --ttl DURATION       lifetime: 30s, 15m, 12h, 7d  (default ${DEFAULT_TTL_MS / 3_600_000}h, at most 365d)
  --issuer ISS         'iss', when the gateway checks it (--auth-issuer)
  --audience AUD       'aud', when the gateway checks it (--auth-audience)

example:
  sluice token --secret-file data/gateway/auth-secret --sub payment --service payment \\
    --register 'payment.*' --call 'inventory.get' --ttl 7d
`;

export async function tokenCommand(argv: string[]): Promise<void> {
  const f = parseFlags(
    argv,
    {
      'secret-file': { type: 'string' },
      sub: { type: 'string' },
      call: { type: 'string', multiple: true },
      service: { type: 'string' },
      register: { type: 'string', multiple: true },
      admin: { type: 'boolean' },
      ttl: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
    },
    usage,
  );
  if (typeof f['secret-file'] !== 'string') throw new Error(`--secret-file is required\n\n${usage}`);
  if (typeof f.sub !== 'string') throw new Error(`--sub is required\n\n${usage}`);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const token = await mintToken({
    secret: await readSecretFile(f['secret-file']),
    subject: f.sub,
    grant: {
      call: (f.call as string[] | undefined) ?? [],
      register: (f.register as string[] | undefined) ?? [],
      service: str(f.service),
      admin: f.admin === true,
    },
    ...(typeof f.ttl === 'string' ? { ttlMs: parseDuration(f.ttl) } : {}),
    ...(typeof f.issuer === 'string' ? { issuer: f.issuer } : {}),
    ...(typeof f.audience === 'string' ? { audience: f.audience } : {}),
  });
  process.stdout.write(`${token}\n`);
}
