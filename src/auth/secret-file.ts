/**
 * The HS256 secret file shared by the gateway (which verifies) and whoever
 * mints (`sluice token`, the demo). Its bytes are the key, except one
 * trailing newline, so `echo ... > file` and an editor's final newline do
 * not change the key. The demo creates one on first run: 48 random bytes as
 * base64url text, file mode 0600 (whoever reads it can mint any grant).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../config-error.js';
import { SluiceError } from '../errors.js';
import { MIN_SECRET_BYTES } from './verifier.js';

/**
 * Reads a secret file: its bytes with trailing whitespace (a final newline)
 * trimmed. A missing or short file throws a ConfigError naming `configKey`
 * when the file came from config, else INVALID_ARGUMENT naming the file.
 */
export async function readSecretFile(path: string, configKey?: string): Promise<Uint8Array> {
  const fail = (message: string, cause?: unknown): Error =>
    configKey !== undefined ? new ConfigError(configKey, message) : new SluiceError('INVALID_ARGUMENT', `secret file ${message}`, cause === undefined ? undefined : { cause });
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw fail(`${path} cannot be read: ${(err as Error).message}`, err);
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09 || bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end < MIN_SECRET_BYTES) throw fail(`${path} holds ${end} bytes; an HS256 secret needs at least ${MIN_SECRET_BYTES}`);
  return bytes.subarray(0, end);
}

/** The secret in `path`, created first (random, mode 0600, parent dirs 0700) when the file does not exist. */
export async function ensureSecretFile(path: string): Promise<{ secret: Uint8Array; created: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let created = true;
  try {
    // 'wx': never overwrite a secret another process (or a previous run) made.
    await writeFile(path, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    created = false;
  }
  return { secret: await readSecretFile(path), created };
}
