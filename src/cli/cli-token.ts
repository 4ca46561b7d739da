/**
 * The credential a client command (call, stream, order, dlq, loadtest)
 * presents. First match wins: `--token`, `--token-file`, env `SLUICE_TOKEN`,
 * env `SLUICE_TOKEN_FILE`, then the demo's operator token
 * `<data dir>/gateway/operator.jwt` when that file exists (the data dir is
 * env `SLUICE_DATA_DIR`, default ./data): on the demo's machine, access to
 * its data directory is the operator's credential. Nothing found: no token,
 * the gateway's anonymous grant applies.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '../transport/client-transport.js';
import type { Client, ClientOptions } from '../client/index.js';
import { SluiceError } from '../errors.js';
import type { Flags } from './args.js';

/** Where the demo writes its operator token, under its data dir. */
export const OPERATOR_TOKEN_FILE = join('gateway', 'operator.jwt');

/** Data dir the CLI looks in when SLUICE_DATA_DIR is unset: the demo's default (`npm start` run from the same directory). */
export const DEFAULT_DATA_DIR = './data';

export const tokenFlags: Flags = { token: { type: 'string' }, 'token-file': { type: 'string' } };

export const tokenUsage = `  --token TOKEN      bearer token (env SLUICE_TOKEN; see sluice token)
  --token-file FILE  read the token from FILE (env SLUICE_TOKEN_FILE)
                     default: <data dir>/${OPERATOR_TOKEN_FILE} when it exists (written by the demo;
                     data dir: env SLUICE_DATA_DIR, default ${DEFAULT_DATA_DIR}), else no token
`;

export interface CliToken {
  readonly token: string;
  /** Where it came from, for error messages: `--token`, a file path, `SLUICE_TOKEN`. */
  readonly source: string;
  /** Found by default (the demo's operator token), not asked for: when the gateway refuses it, the command goes on without. */
  readonly implicit: boolean;
}

export async function resolveCliToken(f: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<CliToken | undefined> {
  if (typeof f.token === 'string') return { token: nonEmpty(f.token.trim(), '--token'), source: '--token', implicit: false };
  if (typeof f['token-file'] === 'string') return fromFile(f['token-file'], true);
  if (env.SLUICE_TOKEN) return { token: env.SLUICE_TOKEN.trim(), source: 'SLUICE_TOKEN', implicit: false };
  if (env.SLUICE_TOKEN_FILE) return fromFile(env.SLUICE_TOKEN_FILE, true);
  return fromFile(join(env.SLUICE_DATA_DIR || DEFAULT_DATA_DIR, OPERATOR_TOKEN_FILE), false);
}

async function fromFile(path: string, required: boolean): Promise<CliToken | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read token file ${path}: ${(err as Error).message}`);
  }
  return { token: nonEmpty(text.trim(), path), source: path, implicit: !required };
}

function nonEmpty(token: string, source: string): string {
  if (token.length === 0) throw new Error(`${source}: the token is empty`);
  return token;
}

/**
 * `connect()` with the command's token. A refused token names where it came
 * from; a refused default token (an operator token of another demo, or an
 * expired one) is dropped with a warning and the command goes on anonymous.
 */
export async function connectWithCliToken(options: Omit<ClientOptions, 'token'>, token: CliToken | undefined): Promise<Client> {
  try {
    return await connect({ ...options, ...(token ? { token: token.token } : {}) });
  } catch (err) {
    if (!token || !(err instanceof SluiceError) || err.code !== 'UNAUTHENTICATED') throw err;
    if (token.implicit) {
      process.stderr.write(`warning: the gateway refused the token in ${token.source} (${err.message}); going on without a token\n`);
      return connect(options);
    }
    throw new SluiceError('UNAUTHENTICATED', `${err.message} (token from ${token.source})`, { cause: err });
  }
}

/** The token a multi-connection command (loadtest) should present: checked once on a probe connection, as connectWithCliToken decides. */
export async function checkedCliToken(options: Omit<ClientOptions, 'token'>, token: CliToken | undefined): Promise<string | undefined> {
  if (!token) return undefined;
  try {
    (await connect({ ...options, token: token.token })).close();
    return token.token;
  } catch (err) {
    if (!(err instanceof SluiceError) || err.code !== 'UNAUTHENTICATED') return token.token; // not about the token: the run reports it
    if (!token.implicit) throw new SluiceError('UNAUTHENTICATED', `${err.message} (token from ${token.source})`, { cause: err });
    process.stderr.write(`warning: the gateway refused the token in ${token.source} (${err.message}); going on without a token\n`);
    return undefined;
  }
}
